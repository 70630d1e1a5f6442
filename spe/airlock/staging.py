"""Where uploads wait while they are checked: ``<data_dir>/staging/`` (0700).

Never the system's temporary folder: a control plane killed mid-upload leaves its folder, with
the researcher's unreviewed files, where nothing would ever look. Here each folder is named
after its owner (``egress-<pid>-<process start>-…``) and :func:`sweep` removes those whose
owner is gone, or that are older than the grace period, at start-up and periodically
(:mod:`spe.airlock.janitor`).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from spe.settings import Settings

FOLDER = re.compile(r"^egress-(\d+)-(-?\d+)-")


def root(settings: Settings) -> Path:
    return settings.data_dir / "staging"


@contextmanager
def folder(staging_root: Path) -> Iterator[Path]:
    """A new private folder under ``staging_root``, removed when the block ends."""
    staging_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging_root.chmod(0o700)
    pid = os.getpid()
    with tempfile.TemporaryDirectory(prefix=f"egress-{pid}-{_started(pid)}-",
                                     dir=staging_root) as path:  # mkdtemp: mode 0700
        yield Path(path)


@dataclass(frozen=True)
class Swept:
    folders: int = 0
    files: int = 0
    bytes: int = 0


def sweep(staging_root: Path, grace_seconds: float) -> Swept:
    """Remove the folders whose owner process is gone or that are older than the grace."""
    folders = files = size = 0
    try:
        entries = list(staging_root.iterdir())
    except FileNotFoundError:
        return Swept()
    cutoff = time.time() - grace_seconds
    for entry in entries:
        match = FOLDER.match(entry.name)
        if not entry.is_dir() or entry.is_symlink() or match is None:
            continue
        owner_alive = _started(int(match[1])) == int(match[2])
        if owner_alive and entry.stat().st_mtime >= cutoff:
            continue
        for parent, _dirs, names in os.walk(entry):
            for name in names:
                files += 1
                size += os.lstat(os.path.join(parent, name)).st_size
        shutil.rmtree(entry, ignore_errors=True)
        folders += 1
    return Swept(folders, files, size)


def _started(pid: int) -> int:
    """When process ``pid`` started (clock ticks since boot), so a reused pid is not taken
    for the owner; -1 if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[19])
