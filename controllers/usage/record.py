"""Adding a meter's samples to the projects' usage, in one transaction."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import select

from spe.audit import Actor
from spe.audit import record as record_event
from spe.db import session_scope
from spe.domain.projects import Project
from spe.domain.usage import ProjectUsage, Sample, add_usage

METER = Actor.system("usage-meter")


class UsageMeter(Protocol):
    def sample(self) -> list[Sample]:
        """What was used since the previous call (the first call may return nothing)."""


def record(engine: Engine, samples: list[Sample]) -> int:
    """Add ``samples`` to the usage of the projects they name; samples of a project the
    database does not know (an orphan being torn down) are dropped. A change in the number
    of decrypted copies of a project's extract is audited in the same transaction
    (``extract.copies.change``). Returns how many samples were added."""
    if not samples:
        return 0
    with session_scope(engine) as session:
        known = set(session.exec(select(Project.id).where(
            Project.id.in_({s.project_id for s in samples}))))
        kept = [s for s in samples if s.project_id in known]
        for sample in kept:
            before = add_usage(session, sample)
            if before is not None:
                record_event(session, action="extract.copies.change", actor=METER,
                             target_type="project", target_id=sample.project_id,
                             project_id=sample.project_id,
                             details={"copies": sample.extract_copies, "before": before})
    return len(kept)


def released(engine: Engine, project_id: str) -> None:
    """The runtime holds nothing of the project any more (its workspace was deleted): no
    meter will see it again, so its storage, extract and extract copies are recorded as 0
    (the change of copies audited); what it used stays."""
    with session_scope(engine) as session:
        rows = session.exec(select(ProjectUsage).where(ProjectUsage.project_id == project_id))
        samples = [Sample(project_id, row.member, storage_bytes=0, extract_bytes=0,
                          extract_copies=0) for row in rows]
    record(engine, samples)
