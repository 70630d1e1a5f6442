"""Which projects changed since the controller last looked: the audit log as a change feed.

Every permit change (grant, amendment, suspension — the kill switch —, resumption,
revocation, expiry) commits together with its audit event, ``permit.*``, which names the
project; so does every change of a project's budget (``usage.budget.*``). The log's
sequence numbers are handed out under a lock held until the commit
(:func:`spe.audit.log.append`), so events become visible in sequence order: reading the
events after the last number seen misses none. That needs no table, trigger or channel of
its own, reads one indexed range, and works the same on SQLite and PostgreSQL, whether the
API runs in the controller's process (``spe up``: a route's change also wakes the feed at
once) or in another (the Helm chart: the controller polls every
``reconcile_interval_seconds``).
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from spe.audit.models import AuditEvent, AuditLeaf

WAKING_ACTIONS = ("permit.", "usage.budget.")
"""Audit actions after which a project's desired state may differ: a permit's changes, a
budget set, removed or crossed (the hub refuses new servers, or shows a notice)."""
BATCH = 1000


class ChangeFeed:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.after: int | None = None  # the last sequence number read

    def start(self) -> None:
        """Look only at what happens from now on (the caller reconciles everything once)."""
        with Session(self.engine) as session:
            last = session.exec(select(func.max(AuditLeaf.seq))).one()
        self.after = -1 if last is None else last

    def changed(self) -> list[str]:
        """Projects named by waking events since the last call, in order, each once."""
        if self.after is None:
            self.start()
            return []
        projects: dict[str, None] = {}
        with Session(self.engine) as session:
            while True:
                rows = session.exec(
                    select(AuditEvent.seq, AuditEvent.action, AuditEvent.project_id)
                    .where(AuditEvent.seq > self.after).order_by(AuditEvent.seq).limit(BATCH)
                ).all()
                for seq, action, project_id in rows:
                    self.after = seq
                    if project_id and action.startswith(WAKING_ACTIONS):
                        projects[project_id] = None
                if len(rows) < BATCH:
                    return list(projects)
