"""Finding and stopping the processes of a local workspace.

The hub runs in its own process group; its proxy and managed services inherit it, but
JupyterHub starts each user's server in a new session. So every process of a workspace carries
``SPE_WORKSPACE=<project dir>`` in its environment and is found through ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from workspaces.hubconfig import WORKSPACE_MARKER_ENV


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def workspace_pids(project_dir: Path) -> set[int]:
    """Pids of live processes whose environment marks them as part of ``project_dir``."""
    marker = f"{WORKSPACE_MARKER_ENV}={project_dir}".encode()
    return _marked(lambda value: value == marker)


def pids_under(projects_dir: Path) -> set[int]:
    """Pids of live processes of every workspace under ``projects_dir`` (one /proc scan)."""
    prefix = f"{WORKSPACE_MARKER_ENV}={projects_dir}/".encode()
    return _marked(lambda value: value.startswith(prefix))


def _marked(matches) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(matches(v) for v in environ.split(b"\0")) and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


def stop_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process group, SIGKILL it if still there after ``timeout`` seconds."""
    _signal_and_wait(lambda sig: os.killpg(pgid, sig), lambda: _group_alive(pgid), timeout)


def stop_pids(pids: set[int], timeout: float = 5.0) -> None:
    """SIGTERM processes, SIGKILL those still alive after ``timeout`` seconds."""

    def send(sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    _signal_and_wait(send, lambda: any(alive(p) for p in pids), timeout)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return any(_pgid(int(p.name)) == pgid and alive(int(p.name))
               for p in Path("/proc").iterdir() if p.name.isdigit())


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _signal_and_wait(send, still_alive, timeout: float) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            send(sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not still_alive():
                return
            time.sleep(0.05)
