"""The controller's periodic jobs, each on its own schedule, apart from reconciling.

Reconciling a project never waits for one of these, nor one of these for a reconcile:
recording permits' expiry, sampling what the workspaces use, sweeping the egress
quarantine's orphans. They run one after the other in one thread of the controller
(:class:`controllers.controller.Controller`); a job that fails is logged and runs again at
its next time. (The audit log's checkpoints are the checkpoint signer's,
:mod:`spe.audit.signer`, which alone holds the audit signing key.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from controllers import usage
from spe.airlock import janitor
from spe.audit import Actor
from spe.db import session_scope
from spe.db.types import utcnow
from spe.domain import budgets, permit_lifecycle
from spe.domain.permits import ENDED_STATUSES, Permit
from spe.domain.principal import Principal
from spe.settings import Settings
from spe.storage.base import ObjectStore

log = logging.getLogger(__name__)
PRINCIPAL = Principal.system("reconciler")
ACTOR = Actor.system("reconciler")
EXPIRY_SECONDS = 30.0


@dataclass
class Job:
    name: str
    every: float  # seconds between two runs
    run: Callable[[], object]
    due: float = field(default=0.0)  # monotonic time of the next run; 0: at the first turn

    def run_if_due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self.due:
            return False
        self.due = now + self.every
        try:
            self.run()
        except Exception:  # the job runs again at its next time; the others run meanwhile
            log.exception("job %s failed", self.name)
        return True


def expire_permits(engine: Engine) -> list[str]:
    """Record the expiry of the permits whose dates have passed (the platform's transition,
    audited as ``permit.expire``, which the change feed then hands to the reconciler).
    Returns the permits expired."""
    with Session(engine) as session:
        due = list(session.exec(select(Permit.id).where(
            Permit.valid_until <= utcnow(),
            Permit.status.not_in([s.value for s in ENDED_STATUSES]))))
    for permit_id in due:
        with session_scope(engine) as session:
            permit_lifecycle.expire_permit(session, permit_id, PRINCIPAL)
    return due


def sample_usage(engine: Engine, settings: Settings, meter: usage.UsageMeter) -> list[str]:
    """Record what the workspaces used, then re-evaluate the permits' budgets: each change
    of a budget's state is audited (``usage.budget.*``), which the change feed hands to the
    reconciler (the hub then refuses or accepts new servers, shows or drops the notice).
    Returns the projects whose budget changed state."""
    usage.record(engine, meter.sample())
    with session_scope(engine) as session:
        return budgets.check_budgets(session, settings, ACTOR)


def standard_jobs(engine: Engine, settings: Settings, *,
                  meter: usage.UsageMeter | None = None,
                  quarantine: ObjectStore | None = None) -> list[Job]:
    """The jobs every controller runs; a usage sample with a ``meter``, the quarantine's
    sweep with its store."""
    jobs = [Job("permit expiry", EXPIRY_SECONDS, lambda: expire_permits(engine))]
    if meter is not None:
        jobs.append(Job("usage sample", settings.usage_sample_interval_seconds,
                        lambda: sample_usage(engine, settings, meter)))
    if quarantine is not None:
        grace = timedelta(seconds=settings.egress_cleanup_grace_seconds)
        jobs.append(Job("egress quarantine sweep", settings.egress_cleanup_interval_seconds,
                        lambda: janitor.sweep_quarantine(engine, quarantine, grace)))
    return jobs
