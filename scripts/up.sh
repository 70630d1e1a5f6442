#!/usr/bin/env bash
# Install spe into the project's virtualenv (.venv, unless one is active) and start the
# embedded platform with demo data (Ctrl-C stops everything).
# Usage: bash scripts/up.sh [spe up options]
set -euo pipefail
cd "$(dirname "$0")/.."
SPE_PROJECT_VENV=1 source scripts/python-env.sh
echo "installing spe into $(dirname "$(dirname "$PY")") (the first time takes a few minutes)" >&2
"$PY" -m pip install --disable-pip-version-check --progress-bar on -e ".[workspace]"
exec "$PY" -m spe up "$@"
