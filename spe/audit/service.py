"""What auditors ask of the log: search, proofs against checkpoints, and the retention purge.

Every function takes a Session and leaves committing to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, tuple_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from spe.audit import checkpoints, encoding, merkle
from spe.audit.checkpoints import Checkpoint
from spe.audit.models import AuditEvent, AuditLeaf, AuditNode
from spe.db.types import utcnow
from spe.errors import InvalidInput, NotFound

MAX_PAGE = 500
# Timestamps are taken under the head lock, so they rise with seq up to the skew between
# replicas' clocks; a time filter is turned into a seq range widened by this margin.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class EventFilter:
    actor_id: str | None = None
    project_id: str | None = None
    action_prefix: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def search(session: Session, flt: EventFilter, *, after: int | None = None,
           limit: int = 50) -> tuple[list[AuditEvent], int | None]:
    """Events matching ``flt`` with seq > ``after``, by seq; returns (page, next cursor)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", code="audit.bad_limit")
    query = select(AuditEvent)
    conditions = [(AuditEvent.actor_id, flt.actor_id), (AuditEvent.project_id, flt.project_id),
                  (AuditEvent.target_type, flt.target_type),
                  (AuditEvent.target_id, flt.target_id), (AuditEvent.outcome, flt.outcome)]
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    if flt.action_prefix:
        query = query.where(AuditEvent.action.startswith(flt.action_prefix, autoescape=True))
    lowest = -1 if after is None else after
    if flt.since is not None:
        query = query.where(AuditEvent.ts >= flt.since)
        lowest = max(lowest, _first_seq_at(session, flt.since - CLOCK_SKEW) - 1)
    if flt.until is not None:
        query = query.where(AuditEvent.ts < flt.until)
        highest = _first_seq_at(session, flt.until + CLOCK_SKEW)
        query = query.where(AuditEvent.seq < highest)
    query = query.where(AuditEvent.seq > lowest).order_by(AuditEvent.seq).limit(limit + 1)
    rows = list(session.exec(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more else None)


def _first_seq_at(session: Session, when: datetime) -> int:
    """The first seq whose leaf time is at or after ``when`` (tree size if none)."""
    seq = session.exec(select(AuditLeaf.seq).where(AuditLeaf.ts >= when)
                       .order_by(AuditLeaf.ts).limit(1)).first()
    if seq is not None:
        return seq
    return session.exec(select(func.coalesce(func.max(AuditLeaf.seq), -1))).one() + 1


def get_event(session: Session, seq: int) -> AuditEvent:
    event = session.get(AuditEvent, seq)
    if event is None:
        raise NotFound(f"no audit event {seq} (absent, or its body was purged)",
                       code="audit.no_event")
    return event


def event_json(event: AuditEvent) -> dict:
    """An event as the API and exports show it: the body fields, ``ts`` as signed."""
    body = {name: getattr(event, name) for name in encoding.BODY_FIELDS}
    body["ts"] = encoding.format_ts(event.ts)
    return body


def fetcher(session: Session) -> merkle.Fetch:
    """Look up complete subtree hashes: level 0 from the leaves, others from the nodes."""

    def fetch(ids: list[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        found: dict[merkle.NodeId, bytes] = {}
        leaves = [index for level, index in ids if level == 0]
        nodes = [(level, index) for level, index in ids if level > 0]
        if leaves:
            rows = session.execute(sa_select(AuditLeaf.seq, AuditLeaf.leaf_hash)
                                   .where(AuditLeaf.seq.in_(leaves)))
            found.update({(0, seq): h for seq, h in rows})
        if nodes:
            rows = session.execute(sa_select(AuditNode.level, AuditNode.index, AuditNode.hash)
                                   .where(tuple_(AuditNode.level, AuditNode.index).in_(nodes)))
            found.update({(level, index): h for level, index, h in rows})
        return found

    return fetch


def leaf_json(leaf: AuditLeaf) -> dict:
    return {"v": leaf.version, "seq": leaf.seq, "ts": encoding.format_ts(leaf.ts),
            "body": leaf.commitment.hex(), "leaf_hash": leaf.leaf_hash.hex()}


def inclusion(session: Session, seq: int, tree_size: int | None = None) -> dict:
    """Proof that event ``seq`` is in the checkpoint at ``tree_size`` (default: latest)."""
    cp = checkpoints.latest(session) if tree_size is None else \
        checkpoints.at_size(session, tree_size)
    if not 0 <= seq < cp.tree_size:
        raise InvalidInput(f"event {seq} is not covered by the checkpoint at size "
                           f"{cp.tree_size}", code="audit.not_covered")
    leaf = session.get(AuditLeaf, seq)
    if leaf is None:
        raise NotFound(f"no audit leaf {seq}", code="audit.no_event")
    proof = merkle.inclusion_proof(seq, cp.tree_size, fetcher(session))
    return {"seq": seq, "tree_size": cp.tree_size, "leaf": leaf_json(leaf),
            "proof": [p.hex() for p in proof], "checkpoint": cp.to_json()}


def consistency(session: Session, old_size: int, new_size: int) -> dict:
    """Proof that the checkpoint at ``old_size`` is a prefix of the one at ``new_size``."""
    if old_size > new_size:
        raise InvalidInput("the first checkpoint must not be larger than the second",
                           code="audit.bad_range")
    old, new = checkpoints.at_size(session, old_size), checkpoints.at_size(session, new_size)
    proof = merkle.consistency_proof(old_size, new_size, fetcher(session))
    return {"old": old.to_json(), "new": new.to_json(), "proof": [p.hex() for p in proof]}


def verify_inclusion(proof: dict, public_key) -> None:
    """Check an inclusion proof document offline (raises on any mismatch)."""
    cp = Checkpoint.from_json(proof["checkpoint"])
    checkpoints.verify_checkpoint(cp, public_key)
    leaf = proof["leaf"]
    data = encoding.leaf_bytes(leaf["seq"], leaf["ts"], bytes.fromhex(leaf["body"]), leaf["v"])
    merkle.verify_inclusion(proof["seq"], cp.tree_size, merkle.leaf_hash(data),
                            [bytes.fromhex(p) for p in proof["proof"]], cp.root_hash)


def verify_consistency(proof: dict, public_key) -> None:
    old, new = Checkpoint.from_json(proof["old"]), Checkpoint.from_json(proof["new"])
    for cp in (old, new):
        checkpoints.verify_checkpoint(cp, public_key)
    merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash,
                              [bytes.fromhex(p) for p in proof["proof"]])


def purge_cutoff(retention: timedelta, before: datetime | None = None,
                 now: datetime | None = None) -> datetime:
    """Bodies older than this may go: ``before`` if given, never later than retention."""
    limit = (now or utcnow()) - retention
    return limit if before is None else min(before, limit)


def purge(session: Session, retention: timedelta, before: datetime | None = None) -> int:
    """Delete event bodies past retention (and before ``before``); leaves stay. Run it on
    the privileged connection: the application role may not delete (docs/audit.md)."""
    cutoff = purge_cutoff(retention, before)
    result = session.execute(delete(AuditEvent).where(AuditEvent.ts < cutoff))
    return result.rowcount
