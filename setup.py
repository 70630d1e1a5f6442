"""The one compiled part of spe: the audit verifier's inner loop (spe/audit/_native.c).

Optional: without a C compiler and the Python, libpq, SQLite and OpenSSL headers (Debian:
gcc python3-dev libpq-dev libsqlite3-dev libssl-dev, listed in scripts/deps/apt.txt) the
build skips it and ``spe audit verify`` uses the Python verifier, which checks the same
things more slowly (docs/audit.md).
"""

import shutil
import subprocess

from setuptools import Extension, setup


def libpq_include() -> str:
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--includedir"], capture_output=True, text=True,
                               check=False)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return "/usr/include/postgresql"


setup(ext_modules=[Extension(
    "spe.audit._native", ["spe/audit/_native.c"], depends=["spe/audit/_layout.h"],
    include_dirs=[libpq_include()],
    libraries=["pq", "sqlite3", "crypto"], extra_compile_args=["-O2", "-std=c11"],
    optional=True)])
