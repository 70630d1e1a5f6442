"""What auditors ask of the log: search, proofs against checkpoints, and the retention purge.

Every function takes a Session and leaves committing to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    SmallInteger,
    and_,
    bindparam,
    delete,
    func,
    literal,
    null,
    or_,
    union_all,
)
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from spe.audit import checkpoints, encoding, merkle
from spe.audit.checkpoints import Checkpoint
from spe.audit.models import AuditEvent, AuditLeaf, AuditNode
from spe.db.types import utcnow
from spe.errors import InvalidInput, NotFound
from spe.messages import Message

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
    """Events matching ``flt`` with seq > ``after``, by seq; returns (page, next cursor).

    A time range becomes a seq range first (one query on the leaf-time index), then pages
    are read in seq order on the filter's ``(column, seq)`` index and the few events at the
    edges of the widened range are dropped here. The time condition stays out of the SQL on
    purpose: PostgreSQL would multiply its selectivity with the seq range's as if time and
    seq were independent, and then sort every event of the range instead of stopping after
    one page (10 ms against 1 ms at 10M events, docs/benchmarks/audit.md).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(Message("limit must be between 1 and {MAX_PAGE}", MAX_PAGE=MAX_PAGE),
                           code="audit.bad_limit")
    query = select(AuditEvent)
    conditions = [(AuditEvent.actor_id, flt.actor_id), (AuditEvent.project_id, flt.project_id),
                  (AuditEvent.target_type, flt.target_type),
                  (AuditEvent.target_id, flt.target_id), (AuditEvent.outcome, flt.outcome)]
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    if flt.action_prefix:
        query = query.where(AuditEvent.action.startswith(flt.action_prefix, autoescape=True))
    lowest, highest = _seq_range(session, flt)
    if after is not None:
        lowest = max(lowest, after + 1)
    if highest is not None:
        query = query.where(AuditEvent.seq < highest)
    rows: list[AuditEvent] = []
    while len(rows) <= limit:
        wanted = limit + 1 - len(rows)
        batch = list(session.exec(query.where(AuditEvent.seq >= lowest)
                                  .order_by(AuditEvent.seq).limit(wanted)))
        rows += [e for e in batch if _in_time(e.ts, flt)]
        if len(batch) < wanted:
            break
        lowest = batch[-1].seq + 1
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more else None)


def _in_time(ts: datetime, flt: EventFilter) -> bool:
    return (flt.since is None or ts >= flt.since) and (flt.until is None or ts < flt.until)


def _seq_range(session: Session, flt: EventFilter) -> tuple[int, int | None]:
    """``[lowest, highest)``: every seq whose event can fall in the filter's time range.

    Times rise with seq up to ``CLOCK_SKEW``, so everything up to a leaf older than
    ``since - CLOCK_SKEW`` is older than ``since``, and everything from a leaf at or after
    ``until + CLOCK_SKEW`` is at or after ``until``. Both leaves come off the leaf-time
    index in one query."""
    if flt.since is None and flt.until is None:
        return 0, None
    lo: Any = literal(0)
    hi: Any = null()
    if flt.since is not None:
        before = (sa_select(AuditLeaf.seq).where(AuditLeaf.ts < flt.since - CLOCK_SKEW)
                  .order_by(AuditLeaf.ts.desc()).limit(1).scalar_subquery())
        lo = func.coalesce(before + 1, 0)
    if flt.until is not None:
        after = (sa_select(AuditLeaf.seq).where(AuditLeaf.ts >= flt.until + CLOCK_SKEW)
                 .order_by(AuditLeaf.ts).limit(1).scalar_subquery())
        size = sa_select(func.coalesce(func.max(AuditLeaf.seq), -1) + 1).scalar_subquery()
        hi = func.coalesce(after, size)
    return tuple(session.execute(sa_select(lo, hi)).one())


def get_event(session: Session, seq: int) -> AuditEvent:
    event = session.get(AuditEvent, seq)
    if event is None:
        raise NotFound(Message("no audit event {seq} (absent, or its body was purged)", seq=seq),
                       code="audit.no_event")
    return event


def event_json(event: AuditEvent) -> dict:
    """An event as the API and exports show it: the body fields, ``ts`` as signed."""
    body = {name: getattr(event, name) for name in encoding.BODY_FIELDS}
    body["ts"] = encoding.format_ts(event.ts)
    return body


def fetcher(session: Session, with_leaf: int | None = None) -> merkle.Fetch:
    """Look up complete subtree hashes, level 0 from the leaves and others from the nodes,
    in one query; ``with_leaf`` adds that leaf's full row, kept as ``fetch.leaf``."""

    def fetch(ids: list[merkle.NodeId]) -> dict[merkle.NodeId, bytes]:
        seqs = [index for level, index in ids if level == 0]
        nodes = [(level, index) for level, index in ids if level > 0]
        if with_leaf is not None:
            seqs.append(with_leaf)
        if not seqs and not nodes:
            return {}
        params = {"seqs": seqs}
        for i, (level, index) in enumerate(nodes):
            params[f"l{i}"], params[f"i{i}"] = level, index
        found: dict[merkle.NodeId, bytes] = {}
        for level, index, h, version, ts, commitment in session.execute(
                _path_query(bool(seqs), len(nodes)), params):
            if level == 0 and index == with_leaf:
                fetch.leaf = AuditLeaf(seq=index, version=version, ts=ts,
                                       commitment=commitment, leaf_hash=h)
            found[(level, index)] = h
        return found

    fetch.leaf = None
    return fetch


@lru_cache(maxsize=256)
def _path_query(leaves: bool, nodes: int):
    """Leaves (``:seqs``) and nodes (``:l<i>``, ``:i<i>``) in one statement, built once per
    shape: building an OR of 40 terms costs more than running it. The nodes are an OR of
    primary-key lookups, not ``(level, index) IN``, which SQLite answers with a scan."""
    parts = []
    if leaves:
        parts.append(sa_select(literal(0, SmallInteger).label("level"),
                               AuditLeaf.seq.label("index"), AuditLeaf.leaf_hash,
                               AuditLeaf.version, AuditLeaf.ts, AuditLeaf.commitment)
                     .where(AuditLeaf.seq.in_(bindparam("seqs", expanding=True))))
    if nodes:
        parts.append(sa_select(AuditNode.level, AuditNode.index, AuditNode.hash,
                               null(), null(), null())
                     .where(or_(*(and_(AuditNode.level == bindparam(f"l{i}"),
                                       AuditNode.index == bindparam(f"i{i}"))
                                  for i in range(nodes)))))
    return union_all(*parts) if len(parts) > 1 else parts[0]


def leaf_json(leaf: AuditLeaf) -> dict:
    return {"v": leaf.version, "seq": leaf.seq, "ts": encoding.format_ts(leaf.ts),
            "body": leaf.commitment.hex(), "leaf_hash": leaf.leaf_hash.hex()}


def inclusion(session: Session, seq: int, tree_size: int | None = None) -> dict:
    """Proof that event ``seq`` is in the checkpoint at ``tree_size`` (default: latest): two
    round trips, the checkpoint, then the leaf and its audit path in one query."""
    cp = checkpoints.latest(session) if tree_size is None else \
        checkpoints.at_size(session, tree_size)
    if not 0 <= seq < cp.tree_size:
        raise InvalidInput(Message("event {seq} is not covered by the checkpoint at size "
                                   "{tree_size}", seq=seq, tree_size=cp.tree_size),
                           code="audit.not_covered")
    fetch = fetcher(session, with_leaf=seq)
    path = merkle.inclusion_proof(seq, cp.tree_size, fetch)
    if fetch.leaf is None:
        fetch([])  # a tree of one leaf has an empty path
    if fetch.leaf is None:
        raise NotFound(Message("no audit leaf {seq}", seq=seq), code="audit.no_event")
    return {"seq": seq, "tree_size": cp.tree_size, "leaf": leaf_json(fetch.leaf),
            "proof": [p.hex() for p in path], "checkpoint": cp.to_json()}


def consistency(session: Session, old_size: int, new_size: int) -> dict:
    """Proof that the checkpoint at ``old_size`` is a prefix of the one at ``new_size``."""
    if old_size > new_size:
        raise InvalidInput(Message("the first checkpoint must not be larger than the second"),
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
