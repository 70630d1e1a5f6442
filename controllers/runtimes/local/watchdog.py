"""Stops a local runtime's workspaces when the control plane process dies, however it dies.

A graceful stop (SIGTERM, SIGINT) suspends every workspace itself (:mod:`spe.server`), but a
``kill -9`` or a crash runs no code in the control plane. Its hubs cannot simply die with it:
each hub runs in its own session, JupyterHub starts every user's server in yet another one,
and ``PR_SET_PDEATHSIG`` fires when the *thread* that started a child ends (the reconciler's
thread ends before a graceful shutdown has stopped the servers through the hub) and would
take a user's server down with every hub restart, which must keep them.

So the runtime starts this small process once per root, in its own session: it waits on a
pidfd until the control plane process has exited, then stops every process marked as a
workspace under the root (SIGTERM, then SIGKILL after a few seconds), and exits. After a
graceful shutdown it finds nothing left. If it is itself killed, the next start of the control
plane still cleans up or adopts what it finds (:meth:`LocalRuntime._adopt`).

    python -m controllers.runtimes.local.watchdog <control plane pid> <runtime root>
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from controllers.runtimes.local import processes

POLL_SECONDS = 1.0  # only where pidfd_open is missing (Linux < 5.3)


def start(root: Path) -> subprocess.Popen:
    """Watch this process on behalf of the workspaces under ``root``."""
    return subprocess.Popen(
        [sys.executable, "-m", __name__, str(os.getpid()), str(root)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)


def wait_for_exit(pid: int) -> None:
    """Return once process ``pid`` (this process's parent when it started) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):  # no pidfd: watch for being re-parented instead
        while os.getppid() == pid:
            time.sleep(POLL_SECONDS)
        return
    try:
        if os.getppid() != pid:  # it exited before the pidfd was opened (the pid may be reused)
            return
        select.select([fd], [], [])  # a pidfd turns readable when its process exits
    finally:
        os.close(fd)


def main(argv: list[str]) -> None:
    parent, root = int(argv[0]), Path(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for spe, not for us
    wait_for_exit(parent)
    processes.stop_pids(processes.pids_under(root / "projects"))


if __name__ == "__main__":
    main(sys.argv[1:])
