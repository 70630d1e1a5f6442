# Sourced by scripts/up.sh and scripts/test.sh: sets PY to the Python that runs spe.
# A Python that may take packages (pyenv, a venv, a container's) is used as it is; Debian's
# own python3 is "externally managed" (PEP 668), so spe then gets a virtualenv in .venv.
PY=python3
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [[ -f "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/EXTERNALLY-MANAGED" ]]; then
  if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv 2>/dev/null || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv .venv
    }
  fi
  PY="$PWD/.venv/bin/python"
fi
export PATH="$(dirname "$PY"):$PATH"
