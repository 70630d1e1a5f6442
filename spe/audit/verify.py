"""Offline verification of the whole log (from the database) or of an export file.

One pass over the leaves in sequence order checks, for each seq: that it is the next one
(no gap, duplicate or reordering), that its stored hash is the hash of its leaf, and that
its body (if still there) matches the leaf's salted commitment and carries the same seq and
time. A body missing past retention is a purge gap, counted and reported, not tampering; a
body missing within retention is tampering. The pass rebuilds the tree, so every signed
checkpoint met on the way must have exactly the recomputed root; the database mode also
compares every stored subtree hash, the head, and the consistency proofs the node store
serves between consecutive checkpoints. The first problem stops the pass with a
:class:`VerificationError` naming the sequence number.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, exists
from sqlalchemy import select as sa_select
from sqlmodel import Session

from spe.audit import checkpoints as cps
from spe.audit import encoding, merkle
from spe.audit.checkpoints import Checkpoint, CheckpointError
from spe.audit.models import AuditEvent, AuditLeaf, AuditNode
from spe.audit.service import fetcher

BATCH = 10_000


class VerificationError(Exception):
    """The log or export is not what its checkpoints commit to; ``seq`` is the first bad
    sequence number when one can be named."""

    def __init__(self, seq: int | None, problem: str) -> None:
        self.seq = seq
        self.problem = problem
        super().__init__(f"seq {seq}: {problem}" if seq is not None else problem)


@dataclass(frozen=True)
class LeafRecord:
    seq: int
    version: int
    ts: str
    commitment: bytes
    leaf_hash: bytes
    body: dict[str, Any] | None  # the BODY_FIELDS, ts as a string; None once purged
    salt: bytes | None


@dataclass
class Report:
    start: int = 0
    size: int = 0
    bodies: int = 0
    purged: int = 0
    gaps: list[list[int]] = field(default_factory=list)  # [first, last] purged seqs
    checkpoints: int = 0
    root: bytes = merkle.EMPTY_ROOT

    def note_purged(self, seq: int) -> None:
        self.purged += 1
        if self.gaps and self.gaps[-1][1] == seq - 1:
            self.gaps[-1][1] = seq
        else:
            self.gaps.append([seq, seq])

    def summary(self) -> str:
        lines = [f"verified leaves {self.start}..{self.size - 1} ({self.size - self.start}), "
                 f"{self.bodies} bodies, {self.checkpoints} signed checkpoints; "
                 f"root at size {self.size}: {self.root.hex()}"]
        if self.purged:
            ranges = ", ".join(f"{a}..{b}" for a, b in self.gaps[:10])
            more = " …" if len(self.gaps) > 10 else ""
            lines.append(f"{self.purged} bodies purged past retention (gaps: {ranges}{more})")
        return "\n".join(lines)


class _Pass:
    """The single ordered pass shared by both modes."""

    def __init__(self, checkpoints: Sequence[Checkpoint], public_key: Ed25519PublicKey,
                 retention_cutoff: str, start: int, prefix: Sequence[bytes]) -> None:
        for cp in checkpoints:
            try:
                cps.verify_checkpoint(cp, public_key)
            except CheckpointError as exc:
                raise VerificationError(None, str(exc)) from exc
        self.pending = sorted(checkpoints, key=lambda c: c.tree_size)
        self.cutoff = retention_cutoff
        self.report = Report(start=start, size=start)
        self.frontier = list(prefix)
        self.created: list[tuple[int, int, bytes]] = []
        self.last_checked = start
        self._check_checkpoints()

    def feed(self, rec: LeafRecord) -> None:
        size = self.report.size
        if rec.seq != size:
            what = "appears twice or out of order" if rec.seq < size else "is missing"
            raise VerificationError(size, f"leaf {what} (found seq {rec.seq} next)")
        try:
            leaf = encoding.leaf_bytes(rec.seq, rec.ts, rec.commitment, rec.version)
        except encoding.UnknownVersion as exc:
            raise VerificationError(size, str(exc)) from exc
        h = merkle.leaf_hash(leaf)
        if h != rec.leaf_hash:
            raise VerificationError(size, "stored leaf hash is not the hash of the leaf")
        if rec.body is None:
            if rec.ts >= self.cutoff:
                raise VerificationError(size, f"body deleted within retention (event of "
                                              f"{rec.ts})")
            self.report.note_purged(size)
        else:
            self._check_body(rec)
        self.frontier, created = merkle.append(self.frontier, size, h)
        self.created.extend(created)
        self.report.size = size + 1
        self._check_checkpoints()

    def _check_body(self, rec: LeafRecord) -> None:
        body, seq = rec.body, rec.seq
        try:
            if body["seq"] != seq or body["ts"] != rec.ts:
                raise VerificationError(seq, "body seq or time differs from its leaf")
            matches = rec.salt is not None and rec.commitment == encoding.commitment(
                rec.salt, encoding.body_bytes(body))
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(seq, f"body is malformed: {exc!r}") from exc
        if not matches:
            raise VerificationError(seq, "body does not match the leaf's commitment")
        self.report.bodies += 1

    def _check_checkpoints(self) -> None:
        size = self.report.size
        while self.pending and self.pending[0].tree_size <= size:
            cp = self.pending.pop(0)
            if cp.tree_size < size:
                continue  # before the verified range (an export's prefix)
            if merkle.frontier_root(self.frontier) != cp.root_hash:
                raise VerificationError(
                    self.last_checked,
                    f"signed checkpoint at size {cp.tree_size} does not match the leaves "
                    f"{self.last_checked}..{size - 1}: history was rewritten")
            self.last_checked = size
            self.report.checkpoints += 1

    def finish(self) -> Report:
        if self.pending:
            cp = self.pending[0]
            raise VerificationError(self.report.size, f"leaves end at size {self.report.size} "
                                    f"but a signed checkpoint covers {cp.tree_size}: "
                                    "the log was truncated")
        self.report.root = merkle.frontier_root(self.frontier)
        return self.report


def _cutoff(retention_cutoff: datetime) -> str:
    return encoding.format_ts(retention_cutoff)


# --- the database -------------------------------------------------------------------------

def database_records(session: Session, start: int = 0, end: int | None = None
                     ) -> Iterator[LeafRecord]:
    columns = [AuditLeaf.seq, AuditLeaf.version, AuditLeaf.ts, AuditLeaf.commitment,
               AuditLeaf.leaf_hash, AuditEvent.salt,
               *(getattr(AuditEvent, n).label(f"b_{n}") for n in encoding.BODY_FIELDS)]
    query = (sa_select(*columns).outerjoin(AuditEvent, AuditEvent.seq == AuditLeaf.seq)
             .where(AuditLeaf.seq >= start).order_by(AuditLeaf.seq)
             .execution_options(yield_per=BATCH))
    if end is not None:
        query = query.where(AuditLeaf.seq < end)
    for row in session.connection().execute(query):  # Core rows: no ORM loading
        seq, version, ts, commitment, leaf_hash, salt, *body = row
        stamp = encoding.format_ts(ts)
        fields = None
        if salt is not None:
            fields = dict(zip(encoding.BODY_FIELDS, body, strict=True))
            fields["ts"] = encoding.format_ts(fields["ts"])
        yield LeafRecord(seq, version, stamp, commitment, leaf_hash, fields, salt)


def verify_database(session: Session, public_key: Ed25519PublicKey,
                    retention_cutoff: datetime) -> Report:
    checkpoints = cps.between(session, 0, 2**62)
    run = _Pass(checkpoints, public_key, _cutoff(retention_cutoff), 0, [])
    for rec in database_records(session):
        run.feed(rec)
        if len(run.created) >= BATCH:
            _compare_nodes(session, run.created)
            run.created = []
    _compare_nodes(session, run.created)
    report = run.finish()
    _check_orphans_and_head(session, report)
    fetch = fetcher(session)
    for old, new in pairwise(checkpoints):
        try:
            proof = merkle.consistency_proof(old.tree_size, new.tree_size, fetch)
            merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash,
                                      new.root_hash, proof)
        except merkle.MerkleError as exc:
            raise VerificationError(old.tree_size, f"checkpoints {old.tree_size} and "
                                    f"{new.tree_size} are not consistent: {exc}") from exc
    return report


def _compare_nodes(session: Session, created: list[tuple[int, int, bytes]]) -> None:
    by_level: dict[int, dict[int, bytes]] = defaultdict(dict)
    for level, index, h in created:
        by_level[level][index] = h
    for level, expected in by_level.items():
        lo, hi = min(expected), max(expected)
        rows = session.execute(sa_select(AuditNode.index, AuditNode.hash).where(
            AuditNode.level == level, AuditNode.index.between(lo, hi)))
        stored = dict(rows.all())
        for index, h in sorted(expected.items()):
            if stored.get(index) != h:
                first = index << level
                raise VerificationError(first, f"stored subtree hash ({level}, {index}) over "
                                        f"leaves {first}..{first + (1 << level) - 1} is wrong "
                                        "or missing: proofs served from it would fail")


def _check_orphans_and_head(session: Session, report: Report) -> None:
    orphan = session.execute(
        sa_select(AuditEvent.seq).where(~exists().where(and_(AuditLeaf.seq == AuditEvent.seq)))
        .order_by(AuditEvent.seq).limit(1)).scalar()
    if orphan is not None:
        raise VerificationError(orphan, "an event body has no leaf: it was inserted")
    size, root = cps.head(session)
    if (size, root) != (report.size, report.root):
        raise VerificationError(min(size, report.size),
                                f"the head says size {size}, the leaves make "
                                f"{report.size}: the log was truncated or extended")


# --- export files -------------------------------------------------------------------------

def verify_export(lines: IO[str] | Iterable[str], public_key: Ed25519PublicKey,
                  retention_cutoff: datetime) -> Report:
    """Verify an export (``spe.audit.export``) with nothing but the public key."""
    it = iter(lines)
    try:
        header = json.loads(next(it))
    except (StopIteration, json.JSONDecodeError) as exc:
        raise VerificationError(None, "not an spe audit export: no header line") from exc
    if header.get("type") != "spe-audit-export" or header.get("v") != 1:
        raise VerificationError(None, "not an spe audit export (version 1)")
    start, end = header["from"], header["to"]
    prefix = [bytes.fromhex(h) for h in header["prefix"]]
    checkpoints = [Checkpoint.from_json(c) for c in header["checkpoints"]]
    anchor = Checkpoint.from_json(header["anchor"]["checkpoint"])
    run = _Pass([*checkpoints, anchor] if anchor.tree_size == end else checkpoints,
                public_key, _cutoff(retention_cutoff), start, prefix)
    if len(prefix) != start.bit_count():
        raise VerificationError(start, "the export's prefix does not describe its start")
    for number, line in enumerate(it, start=2):
        try:
            rec = _record(json.loads(line))
        except (KeyError, ValueError, TypeError) as exc:
            raise VerificationError(run.report.size, f"line {number} is malformed: {exc}") \
                from exc
        if rec.seq >= end:
            raise VerificationError(rec.seq, f"the export promised leaves up to {end - 1}")
        run.feed(rec)
    if run.report.size != end:
        raise VerificationError(run.report.size, f"the export ends at {run.report.size}, its "
                                f"header promises leaves up to {end - 1}: truncated")
    report = run.finish()
    try:
        cps.verify_checkpoint(anchor, public_key)
        merkle.verify_consistency(end, anchor.tree_size, report.root, anchor.root_hash,
                                  [bytes.fromhex(p) for p in header["anchor"]["proof"]])
    except (CheckpointError, merkle.MerkleError) as exc:
        raise VerificationError(start, f"the exported leaves are not part of the signed "
                                f"checkpoint at size {anchor.tree_size}: {exc}") from exc
    return report


def _record(line: dict) -> LeafRecord:
    leaf = line["leaf"]
    salt = line.get("salt")
    return LeafRecord(seq=leaf["seq"], version=leaf["v"], ts=leaf["ts"],
                      commitment=bytes.fromhex(leaf["body"]),
                      leaf_hash=bytes.fromhex(leaf["leaf_hash"]), body=line.get("event"),
                      salt=bytes.fromhex(salt) if salt is not None else None)
