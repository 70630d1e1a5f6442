#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine (as root), then run it all.
# Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/deps/apt.txt
# Node.js runs the test OpenID provider; machines that ship their own node keep it.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

source scripts/python-env.sh
"$PY" -m pip install -q --disable-pip-version-check -e '.[test]'

# Node packages used by the tests: the servers under tests/servers/, and tests/browser/
# (what the browser tests inject into pages, e.g. axe-core).
for dir in tests/servers/*/ tests/browser/; do
  if [[ -f "$dir/package.json" && ! -d "$dir/node_modules" ]]; then
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
  fi
done

"$PY" -m ruff check .
exec "$PY" -m pytest "$@"
