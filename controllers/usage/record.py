"""Adding a meter's samples to the projects' usage, in one transaction."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import select

from spe.db import session_scope
from spe.domain.projects import Project
from spe.domain.usage import Sample, add_usage


class UsageMeter(Protocol):
    def sample(self) -> list[Sample]:
        """What was used since the previous call (the first call may return nothing)."""


def record(engine: Engine, samples: list[Sample]) -> int:
    """Add ``samples`` to the usage of the projects they name; samples of a project the
    database does not know (an orphan being torn down) are dropped. Returns how many were
    added."""
    if not samples:
        return 0
    with session_scope(engine) as session:
        known = set(session.exec(select(Project.id).where(
            Project.id.in_({s.project_id for s in samples}))))
        kept = [s for s in samples if s.project_id in known]
        for sample in kept:
            add_usage(session, sample)
    return len(kept)
