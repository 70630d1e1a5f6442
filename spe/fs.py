"""Files of the embedded platform that only its own user may read.

The data folder holds the SQLite database and the keys: world-readable, any local account
could copy the audit log, the sealed hub secrets or a private key. Folders are made 0700
(with any missing parents under them) and the database file 0600, at creation, whatever
the process umask.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path, tighten: bool = False) -> Path:
    """``path``, created with its missing parents as 0700; with ``tighten``, an existing
    one open to others is made 0700 (spe's own data folder, from an older version)."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first
            folder.mkdir(mode=FOLDER_MODE)
    if (missing or tighten) and path.stat().st_mode & 0o077:
        os.chmod(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path``, created empty as 0600 if absent; an existing one is tightened."""
    path = Path(path)
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    return path
