"""The local runtime's meter: the workspace processes' own CPU and memory accounting.

Every process of a local workspace carries ``SPE_WORKSPACE=<root>/projects/<id>`` in its
environment (:mod:`controllers.runtimes.local.processes`); users' servers and their kernels
also carry ``JUPYTERHUB_USER``, which names the member. Each sample reads ``/proc/<pid>/stat``:
the process's own CPU time (utime + stime), the CPU time of its children it has reaped
(cutime + cstime) and its resident memory. The meter keeps each process's last-seen totals
(keyed by pid and start time, so a reused pid is a new process) and counts what grew since.

A process that exits between two samples is not lost when its parent is a workspace process
too (a kernel under its server, a child under a kernel): the kernel adds its final totals to
the parent's cutime/cstime when the parent reaps it; the meter counts that growth less what
it had already counted of the child while it ran. What is lost: the last interval of a
process whose parent is not a workspace process (the hub, whose parent is the controller),
and children that are never reaped by a workspace process. Processes running before the meter
started are counted from the meter's first look, not from their start (never twice after a
controller restart).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controllers.runtimes.local.encryption import EncryptedFolders, mounted
from spe.domain.usage import GIB, PROJECT, Sample
from workspaces.hubconfig import WORKSPACE_MARKER_ENV

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
USER_ENV = b"JUPYTERHUB_USER="


@dataclass(frozen=True)
class ProcStat:
    ppid: int
    start: int  # clock ticks after boot
    own: int  # utime + stime, ticks
    children: int  # cutime + cstime of reaped children, ticks
    rss_bytes: int


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
    if fields[0] in ("Z", "X"):  # exited: its totals now belong to its parent
        return None
    return ProcStat(ppid=int(fields[1]), start=int(fields[19]),
                    own=int(fields[11]) + int(fields[12]),
                    children=int(fields[13]) + int(fields[14]),
                    rss_bytes=int(fields[21]) * PAGE)


def ticks_since_boot() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * TICKS)


@dataclass
class _Seen:
    stat: ProcStat
    owner: tuple[str, str]  # (project id, member)


class LocalUsageMeter:
    def __init__(self, projects_dir: Path, *, storage: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.projects_dir = Path(projects_dir)
        self.storage = storage
        self._clock = clock
        self._started = ticks_since_boot()
        self._last: float | None = None
        self._seen: dict[tuple[int, int], _Seen] = {}
        self._credit: dict[int, int] = {}  # pid -> ticks of its exited children already counted

    def sample(self) -> list[Sample]:
        now = self._clock()
        elapsed = 0.0 if self._last is None else now - self._last
        self._last = now
        current = self._scan()
        for key in self._seen.keys() - current.keys():  # exited since the last sample
            gone = self._seen[key].stat
            self._credit[gone.ppid] = self._credit.get(gone.ppid, 0) + gone.own + gone.children
        totals: dict[tuple[str, str], Sample] = {}
        for key, seen in current.items():
            counted = self._delta(key, seen.stat)
            sample = totals.setdefault(seen.owner, Sample(*seen.owner))
            sample.cpu_seconds += counted / TICKS
            sample.memory_gib_seconds += seen.stat.rss_bytes / GIB * elapsed
            sample.memory_bytes += seen.stat.rss_bytes
        live = {pid for pid, _ in current}
        self._credit = {pid: t for pid, t in self._credit.items() if pid in live}
        self._seen = current
        if self.storage:
            self._measure_storage(totals)
        return list(totals.values())

    def _delta(self, key: tuple[int, int], stat: ProcStat) -> int:
        before = self._seen.get(key)
        if before is None and stat.start < self._started:  # ran before this meter
            return 0  # counted from now on
        own = stat.own - (before.stat.own if before else 0)
        reaped = stat.children - (before.stat.children if before else 0)
        credit = min(reaped, self._credit.get(key[0], 0))
        if credit:
            self._credit[key[0]] -= credit
        return own + reaped - credit

    def _scan(self) -> dict[tuple[int, int], _Seen]:
        prefix = f"{WORKSPACE_MARKER_ENV}={self.projects_dir}/".encode()
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            project = next((v[len(prefix):].decode() for v in environ if v.startswith(prefix)),
                           None)
            if not project or "/" in project:
                continue
            member = next((v[len(USER_ENV):].decode() for v in environ
                           if v.startswith(USER_ENV)), PROJECT)
            stat = read_stat(int(entry.name))
            if stat is not None:
                found[(int(entry.name), stat.start)] = _Seen(stat, (project, member))
        return found

    def _measure_storage(self, totals: dict[tuple[str, str], Sample]) -> None:
        """Bytes on disk: each member's home, the project's own folders, its extract."""
        if not self.projects_dir.is_dir():
            return
        for project in self.projects_dir.iterdir():
            if not project.is_dir():
                continue
            users = project / "users"
            homes = [h for h in users.iterdir() if h.is_dir()] if users.is_dir() else []
            for home in homes:
                totals.setdefault((project.name, home.name),
                                  Sample(project.name, home.name)).storage_bytes = disk_bytes(home)
            whole = totals.setdefault((project.name, PROJECT), Sample(project.name))
            # a locked (suspended) encrypted workspace holds only ciphertext: the project's
            locked = [EncryptedFolders(project).cipher(d) for d in ("users", "shared")
                      if not mounted(project / d)]
            whole.storage_bytes = sum(disk_bytes(d) for d in
                                      (project / "hub", project / "shared", *locked))
            whole.extract_bytes = disk_bytes(project / "extract")
            # one directory every member's data/ links to: one copy once it holds a file
            whole.extract_copies = int(any(f for _, _, f in os.walk(project / "extract")))


def disk_bytes(directory: Path) -> int:
    """Bytes allocated on disk under ``directory``, symbolic links not followed."""
    total = 0
    for parent, _dirs, files in os.walk(directory):
        for name in files:
            try:
                total += os.lstat(os.path.join(parent, name)).st_blocks * 512
            except OSError:
                continue
    return total
