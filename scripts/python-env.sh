# Sourced by scripts/up.sh and scripts/test.sh: sets PY to the Python that runs spe.
# An active virtualenv is used as it is. scripts/up.sh (SPE_PROJECT_VENV=1) otherwise always
# uses the project's own virtualenv, .venv, created on first use, so a user's Python is never
# changed. scripts/test.sh uses a Python that may take packages (pyenv, a container's) as it
# is; Debian's own python3 is "externally managed" (PEP 668), so spe then gets .venv too.
PY=python3
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [[ "${SPE_PROJECT_VENV:-0}" == 1 ]] || \
     [[ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    echo "creating the project virtualenv in .venv" >&2
    python3 -m venv .venv 2>/dev/null || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .venv
    }
  fi
  PY="$PWD/.venv/bin/python"
fi
export PATH="$(dirname "$PY"):$PATH"
