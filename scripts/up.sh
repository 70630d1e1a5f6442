#!/usr/bin/env bash
# Install spe and start the embedded platform with demo data (Ctrl-C stops everything).
# Usage: bash scripts/up.sh [spe up options]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-env.sh
"$PY" -m pip install -q --disable-pip-version-check -e .
exec "$PY" -m spe up "$@"
