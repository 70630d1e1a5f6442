"""Removing what a crash of the airlock leaves behind, audited.

* Staging folders (:mod:`spe.airlock.staging`): swept by each API process, on its own
  ``<data_dir>``, at start-up and every ``SPE_EGRESS_CLEANUP_INTERVAL_SECONDS``.
* Orphan quarantine objects: a submission puts its files in quarantine before its request
  commits, so a crash in between leaves objects no request refers to. Swept by the reconciler
  (the lease holder on Kubernetes) at its first pass and then at the same interval. An object
  is removed only when no egress file (current version) or vote (any version) of its project
  names its hash, and when it is older than ``SPE_EGRESS_CLEANUP_GRACE_SECONDS`` by a second
  look just before the removal (a submission in flight writes its objects anew, so their
  time is fresh).

Each sweep that removes something records one audit event with counts (and the removed
hashes, which reveal nothing of the content), never file names.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from spe.airlock import staging
from spe.airlock.models import EgressFile, EgressRequest, EgressVote
from spe.audit import Actor, record
from spe.db import session_scope
from spe.db.types import utcnow
from spe.domain.projects import Project
from spe.settings import Settings
from spe.storage.base import ObjectNotFound, ObjectStore
from spe.storage.layout import project_prefix

log = logging.getLogger(__name__)
ACTOR = Actor.system("egress-cleanup")
MAX_LISTED_HASHES = 100


@dataclass
class QuarantineSwept:
    objects: int = 0
    bytes: int = 0
    hashes: list[str] = field(default_factory=list)  # project/sha256 of what was removed


def sweep_staging(engine: Engine, staging_root: Path, grace: timedelta) -> staging.Swept:
    swept = staging.sweep(staging_root, grace.total_seconds())
    if swept.folders:
        with session_scope(engine) as session:
            record(session, action="egress.staging.cleanup", actor=ACTOR,
                   target_type="staging", details={"folders": swept.folders,
                                                   "files": swept.files,
                                                   "bytes": swept.bytes})
    return swept


def sweep_quarantine(engine: Engine, store: ObjectStore, grace: timedelta) -> QuarantineSwept:
    swept = QuarantineSwept()
    with Session(engine) as session:
        project_ids = list(session.exec(select(Project.id).order_by(Project.id)))
    for project_id in project_ids:
        _sweep_project(engine, store, project_id, grace, swept)
    if swept.objects:
        with session_scope(engine) as session:
            record(session, action="egress.quarantine.cleanup", actor=ACTOR,
                   target_type="quarantine", details={
                       "objects": swept.objects, "bytes": swept.bytes,
                       "removed": swept.hashes[:MAX_LISTED_HASHES]})
    return swept


def _sweep_project(engine: Engine, store: ObjectStore, project_id: str, grace: timedelta,
                   swept: QuarantineSwept) -> None:
    cutoff = utcnow() - grace
    prefix = f"{project_prefix(project_id)}quarantine/"
    old = [o for o in store.list(prefix) if _older(o.last_modified, cutoff)]
    if not old:
        return
    with Session(engine) as session:
        named = set(session.exec(
            select(EgressFile.sha256).join(EgressRequest)
            .where(EgressRequest.project_id == project_id)))
        named |= set(session.exec(
            select(EgressVote.sha256).join(EgressFile).join(EgressRequest)
            .where(EgressRequest.project_id == project_id)))
    for info in old:
        sha256 = info.key.rsplit("/", 1)[1]
        if sha256 in named:
            continue
        try:  # a second look: the same content may have been submitted again meanwhile
            if not _older(store.stat(info.key).last_modified, cutoff):
                continue
        except ObjectNotFound:
            continue
        store.delete(info.key)
        swept.objects += 1
        swept.bytes += info.size
        swept.hashes.append(f"{project_id}/{sha256}")


def _older(moment, cutoff) -> bool:
    return moment is not None and moment < cutoff


def staging_sweeper(engine: Engine, settings: Settings) -> Periodic:
    """The API process's sweeper of its own staging folder (start it, stop it at shutdown)."""
    grace = timedelta(seconds=settings.egress_cleanup_grace_seconds)
    root = staging.root(settings)
    return Periodic("egress-staging-cleanup", lambda: sweep_staging(engine, root, grace),
                    timedelta(seconds=settings.egress_cleanup_interval_seconds))


class Periodic:
    """Calls ``sweep`` now and then every ``interval`` in a daemon thread until stopped;
    a failed sweep is logged and tried again at the next turn."""

    def __init__(self, name: str, sweep, interval: timedelta) -> None:
        self._sweep, self._interval = sweep, interval.total_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                self._sweep()
            except Exception:
                log.exception("%s failed", self._thread.name)
            if self._stop.wait(self._interval):
                return


class Due:
    """True at the first call, then once every ``interval`` (for a loop that already runs)."""

    def __init__(self, interval: timedelta) -> None:
        self._interval = interval.total_seconds()
        self._next = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._interval
        return True
