"""Appending to the audit log inside the caller's transaction.

Sequencing: every append first updates the single ``audit_head`` row (``size = size + n``).
That statement takes PostgreSQL's row lock, or SQLite's writer lock, until the caller's
transaction ends, so concurrent transactions get consecutive, gapless sequence numbers in
commit order, and a rolled-back transaction gives its numbers back. The head also holds the
right-edge frontier of the tree, so an append computes the new leaf hash and every subtree
it completes without reading the tree.

Because that lock serialises every writer of the platform, :func:`record` does not take it
where it is called: the event waits in the session and is appended when the transaction
commits, as its last statements (a ``before_commit`` hook). The head is then held for those
statements and the commit only, not for whatever the transaction does after recording (an
egress submission's checks, reading back a view): under 50 concurrent users on PostgreSQL,
holders that had recorded early kept the other writers waiting for seconds
(benchmarks/load.py). A rolled-back or abandoned transaction drops its waiting events.

Nothing here commits: the caller commits the state change and its events together.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from spe import context
from spe.audit import encoding, merkle
from spe.audit.events import (
    Actor,
    check_action,
    check_details,
    check_field,
    check_outcome,
)
from spe.audit.models import AuditEvent, AuditHead, AuditLeaf, AuditNode
from spe.db.types import utcnow

HEAD = AuditHead.__table__
HEAD_ID = 1
PENDING = "spe.audit.pending"  # session.info: events recorded, appended at commit
ONE_STATEMENT = 64  # PostgreSQL: appends up to this many events in one statement


@dataclass(frozen=True)
class Draft:
    """A checked event waiting for its place in the log."""

    action: str
    actor: Actor
    outcome: str = "success"
    target_type: str | None = None
    target_id: str | None = None
    project_id: str | None = None
    details: dict[str, Any] | None = None
    request_id: str | None = None
    trace_id: str | None = None
    client_addr: str | None = None

    def __post_init__(self) -> None:
        check_action(self.action)
        check_outcome(self.outcome)
        for name in ("target_type", "target_id", "project_id", "request_id", "trace_id",
                     "client_addr"):
            check_field(name, getattr(self, name))
        check_details(self.details)


def draft(*, action: str, actor: Actor, outcome: str = "success",
          target_type: str | None = None, target_id: str | None = None,
          project_id: str | None = None, details: dict | None = None) -> Draft:
    """A draft carrying the request id, trace id and client address of the current context."""
    ctx = context.current()
    return Draft(action=action, actor=actor, outcome=outcome, target_type=target_type,
                 target_id=target_id, project_id=project_id, details=details,
                 request_id=ctx.request_id, trace_id=ctx.trace_id,
                 client_addr=ctx.client_addr)


class Recorded:
    """An event recorded in a transaction; its ``seq`` is known once the transaction has
    committed (``None`` before, and if it rolled back)."""

    __slots__ = ("draft", "seq")

    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        self.seq: int | None = None


def record(session: Session, *, action: str, actor: Actor, outcome: str = "success",
           target_type: str | None = None, target_id: str | None = None,
           project_id: str | None = None, details: dict | None = None) -> Recorded:
    """Add one event to the caller's transaction (no commit): it is appended to the log,
    after the events recorded before it, when the transaction commits."""
    recorded = Recorded(draft(action=action, actor=actor, outcome=outcome,
                              target_type=target_type, target_id=target_id,
                              project_id=project_id, details=details))
    session.info.setdefault(PENDING, []).append(recorded)
    return recorded


@event.listens_for(OrmSession, "before_commit")
def _append_recorded(session: OrmSession) -> None:
    recorded = session.info.pop(PENDING, None)
    if recorded:
        session.flush()  # the transaction's own writes first, outside the head's lock
        rows = append(session, [r.draft for r in recorded])
        for r, row in zip(recorded, rows, strict=True):
            r.seq = row["seq"]


@event.listens_for(OrmSession, "after_transaction_end")
def _drop_recorded(session: OrmSession, transaction) -> None:
    if transaction.parent is None:  # rolled back or closed without committing
        session.info.pop(PENDING, None)


def record_many(session: Session, drafts: Sequence[Draft]) -> list[int]:
    """Append a batch under one lock of the head; returns the sequence numbers.

    This is the group commit of ingestion: every caller whose events share a batch is
    answered only after the batch's transaction commits, so batching trades no durability
    for throughput.
    """
    return [row["seq"] for row in append(session, drafts)]


def append(session: Session, drafts: Sequence[Draft], at: datetime | None = None,
           version: int = encoding.VERSION) -> list[dict[str, Any]]:
    """Give ``drafts`` the next sequence numbers and time ``at`` (default now); insert their
    bodies, leaves and completed subtree hashes in the caller's transaction. Returns the
    bodies as rows. Core bulk inserts, not ORM objects: the append path is the hot one.
    ``version``: the leaf encoding (an older one only to test that it still verifies)."""
    if not drafts:
        return []
    size, frontier = _reserve(session, len(drafts))
    ts = at or utcnow()
    events, leaves, nodes = [], [], []
    for d in drafts:
        salt = os.urandom(encoding.SALT_BYTES)
        event = {"seq": size, "ts": ts, "actor_type": d.actor.type, "actor_id": d.actor.id,
                 "actor_role": d.actor.role, "action": d.action, "target_type": d.target_type,
                 "target_id": d.target_id, "project_id": d.project_id, "outcome": d.outcome,
                 "request_id": d.request_id, "trace_id": d.trace_id,
                 "client_addr": d.client_addr, "details": d.details, "salt": salt}
        commit = encoding.commitment(salt, encoding.body_bytes(event, version))
        leaf = merkle.leaf_hash(encoding.leaf_bytes(size, ts, commit, version))
        leaves.append({"seq": size, "version": version, "ts": ts,
                       "commitment": commit, "leaf_hash": leaf})
        frontier, created = merkle.append(frontier, size, leaf)
        nodes.extend({"level": lv, "index": ix, "hash": h} for lv, ix, h in created)
        events.append(event)
        size += 1
    writes = [(table, rows) for table, rows in ((AuditEvent.__table__, events),
                                                (AuditLeaf.__table__, leaves),
                                                (AuditNode.__table__, nodes)) if rows]
    head = update(HEAD).where(HEAD.c.id == HEAD_ID).values(frontier=b"".join(frontier))
    if session.get_bind().dialect.name == "postgresql" and len(drafts) <= ONE_STATEMENT:
        # one round trip while the head is locked: the inserts as data-modifying CTEs
        session.execute(head.add_cte(*(insert(table).values(rows).cte(f"write_{i}")
                                       for i, (table, rows) in enumerate(writes))))
    else:
        for table, rows in writes:
            session.execute(insert(table), rows)
        session.execute(head)
    return events


def _reserve(session: Session, count: int) -> tuple[int, list[bytes]]:
    """Lock the head, advance its size by ``count``; return the old size and frontier."""
    bump = (update(HEAD).where(HEAD.c.id == HEAD_ID)
            .values(size=HEAD.c.size + count).returning(HEAD.c.size, HEAD.c.frontier))
    row = session.execute(bump).first()
    if row is None:
        dialect = session.get_bind().dialect.name
        upsert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(upsert(HEAD).values(id=HEAD_ID, size=0, frontier=b"")
                        .on_conflict_do_nothing())
        row = session.execute(bump).one()
    new_size, packed = row
    size = new_size - count
    frontier = [packed[i:i + merkle.HASH_SIZE] for i in range(0, len(packed), merkle.HASH_SIZE)]
    return size, frontier
