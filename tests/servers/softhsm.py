"""A SoftHSM2 token (Debian's ``softhsm2``) for the PKCS#11 key store: a PKCS#11 module
loaded into the test process, not a server, so there is nothing to stop. The token lives
in a temporary directory, initialised once per run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LIBRARY = Path("/usr/lib/softhsm/libsofthsm2.so")


@dataclass(frozen=True)
class Token:
    library: Path
    label: str
    pin: str
    pin_file: Path


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory) -> Iterator[Token]:
    if not LIBRARY.exists() or not shutil.which("softhsm2-util"):
        pytest.fail("SoftHSM2 is missing: scripts/test.sh installs Debian's softhsm2")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\n"
                    "objectstore.backend = file\nlog.level = ERROR\n")
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when the module is first initialised
    token = Token(LIBRARY, "spe-tests", "5678-test-pin", folder / "pin")
    token.pin_file.write_text(token.pin + "\n")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", token.label,
                    "--so-pin", "1234-test-so-pin", "--pin", token.pin],
                   check=True, capture_output=True)
    yield token
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before
