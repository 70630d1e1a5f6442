"""Offline verification of the whole log (from the database) or of an export file.

The checks, per sequence number in order: the leaf is the next one (no gap, duplicate or
reordering), its stored hash is the hash of its leaf, and its body, if still there, matches
the leaf's salted commitment (the body carries seq and time, so it cannot move). A body
missing past retention is a purge gap, counted and reported, not tampering; a body missing
within retention is tampering. The leaves rebuild the tree, so every signed checkpoint must
have exactly the recomputed root; the database mode also compares every stored subtree hash,
the head, and the consistency proofs the node store serves between consecutive checkpoints.
The first problem stops verification with a :class:`VerificationError` naming the sequence
number.

Against the database's own operator, who can delete checkpoints and recompute every hash:
the log must extend every checkpoint kept outside it (an auditor's, a witness's, a
cosigner's: ``external``), each of which the database must still hold, and leaves older
than ``max_unsigned_age`` must be covered by a signed checkpoint. :func:`verify_tail` is
the incremental check run before a new checkpoint is signed.

Speed: the database mode verifies aligned power-of-two chunks of the log
(:mod:`spe.audit.chunks`), in worker processes for a large log, each with the compiled
verifier (:mod:`spe.audit.native`) when it was built, else in Python reading seven values
per leaf (:mod:`spe.audit.scan`); problems are reported as the serial pass would report them.
"""

from __future__ import annotations

import json
import os
import struct
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import IO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import and_, exists, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from spe.audit import checkpoints as cps
from spe.audit import chunks, encoding, merkle, native
from spe.audit.checkpoints import Checkpoint, CheckpointError
from spe.audit.checks import Report, VerificationError, bad_node, check_rows
from spe.audit.export import export_query
from spe.audit.models import AuditEvent, AuditLeaf, AuditNode
from spe.audit.scan import Row, Source
from spe.audit.service import fetcher
from spe.db.types import utcnow

__all__ = ["Report", "VerificationError", "verify_database", "verify_export"]

PARALLEL_FROM = 1 << 18  # smaller logs are verified in-process


def _check_signatures(checkpoints: Iterable[Checkpoint], public_key: Ed25519PublicKey) -> None:
    for cp in checkpoints:
        try:
            cps.verify_checkpoint(cp, public_key)
        except CheckpointError as exc:
            raise VerificationError(None, str(exc)) from exc


def _cutoff(retention_cutoff: datetime) -> bytes:
    return encoding.format_ts(retention_cutoff).encode()


External = tuple[Checkpoint, str]  # a checkpoint kept outside the database, and whence


def _mismatch(cp: Checkpoint, last_checked: int, source: str | None = None
              ) -> VerificationError:
    if source is not None:
        return VerificationError(
            last_checked, f"the log is not an extension of the {source} checkpoint at size "
                          f"{cp.tree_size}: the leaves {last_checked}..{cp.tree_size - 1} make "
                          "another root, so history it covers was rewritten")
    return VerificationError(
        last_checked, f"signed checkpoint at size {cp.tree_size} does not match the leaves "
                      f"{last_checked}..{cp.tree_size - 1}: history was rewritten")


def _truncated(size: int, cp: Checkpoint, source: str | None = None) -> VerificationError:
    what = f"the {source}" if source is not None else "a signed"
    return VerificationError(size, f"leaves end at size {size} but {what} checkpoint "
                                   f"covers {cp.tree_size}: the log was truncated")


def _pending(checkpoints: Iterable[Checkpoint], external: Iterable[External]
             ) -> deque[tuple[Checkpoint, str | None]]:
    """The database's checkpoints and the external ones, by size (the database's first)."""
    return deque(sorted([*((cp, None) for cp in checkpoints), *external],
                        key=lambda item: (item[0].tree_size, item[1] is not None)))


# --- the database --------------------------------------------------------------------------

def verify_database(session: Session, public_key: Ed25519PublicKey,
                    retention_cutoff: datetime, *, workers: int | None = None,
                    chunk_level: int | None = None,
                    block_level: int = chunks.BLOCK_LEVEL,
                    compiled: bool | None = None, external: Sequence[External] = (),
                    max_unsigned_age: timedelta | None = None,
                    now: datetime | None = None) -> Report:
    """Verify the log in the session's database. ``workers`` (default: one per core for
    logs of ``PARALLEL_FROM`` leaves or more) verify chunks of ``2**chunk_level`` leaves,
    with the compiled verifier when it was built (``compiled`` None) or as told (threads
    for the compiled verifier, processes for the Python one); the result, including which
    problem is reported, depends on none of these.

    ``external``: checkpoints kept outside the database (an auditor's trusted checkpoint,
    a witness's), each with where it came from: the log must be an extension of every one
    (the root of its first ``tree_size`` leaves is the signed one). ``max_unsigned_age``:
    leaves older than this (at ``now``) must be covered by a signed checkpoint, so deleting
    the checkpoints does not go unnoticed (:func:`check_signed_in_time`)."""
    if compiled is None:
        compiled = native.available()
    elif compiled and not native.available():
        raise ValueError("the compiled verifier was not built with this install (setup.py)")
    checkpoints = cps.between(session, 0, 2**62)
    _check_signatures([*checkpoints, *(cp for cp, _ in external)], public_key)
    # as many leaves as there are rows, not max(seq) + 1: an edited seq (2**63 - 1, or text)
    # must not make the plan of chunks unbounded; that leaf is then missing at its place
    size = session.execute(sa_select(func.count()).select_from(AuditLeaf)).scalar()
    if workers is None:
        workers = (os.cpu_count() or 1) if size >= PARALLEL_FROM else 1
    if chunk_level is None:
        chunk_level = chunks.plan(size, workers, block_level)
    block_level = min(block_level, chunk_level)
    pending = _pending(checkpoints, external)
    report, frontier, last_checked = Report(verifier="compiled" if compiled else "python"), [], 0
    results = chunks.run(Source.of(session.get_bind()), size, chunk_level,
                         sorted({cp.tree_size for cp, _ in pending}),
                         _cutoff(retention_cutoff), workers, block_level, compiled)
    for chunk in results:
        while pending and pending[0][0].tree_size <= chunk.end:
            cp, source = pending.popleft()
            if merkle.frontier_root(chunk.at[cp.tree_size] + frontier) != cp.root_hash:
                raise _mismatch(cp, last_checked, source)
            last_checked = cp.tree_size
            if source is None:
                report.checkpoints += 1
            else:
                report.external += 1
        if chunk.problem is not None:
            raise VerificationError(*chunk.problem)
        report.bodies += chunk.report.bodies
        for first, last in chunk.report.gaps:
            report.note_purged(first, last)
        if chunk.end - chunk.start == 1 << chunk_level:
            frontier, created = merkle.append(frontier, chunk.start, chunk.frontier[0],
                                              chunk_level)
            _compare_session_nodes(session, created)
        else:  # the last, partial chunk
            frontier = chunk.frontier + frontier
        report.size = chunk.end
    if pending:
        raise _truncated(report.size, *pending[0])
    report.root = merkle.frontier_root(frontier)
    _check_orphans_and_head(session, report)
    _check_consistency(session, checkpoints)
    _check_kept(checkpoints, external)
    if max_unsigned_age is not None:
        check_signed_in_time(session, checkpoints, max_unsigned_age, now or utcnow())
    return report


def _check_kept(checkpoints: Sequence[Checkpoint], external: Sequence[External]) -> None:
    """Checkpoints are never deleted (the tables refuse it): one kept outside but missing
    from the database was deleted by someone who could switch that off."""
    stored = {cp.tree_size for cp in checkpoints}
    for cp, source in external:
        if cp.tree_size not in stored:
            raise VerificationError(None, f"the database lacks the signed checkpoint at size "
                                    f"{cp.tree_size} that the {source} holds: checkpoints "
                                    "were deleted")


def check_signed_in_time(session: Session, checkpoints: Sequence[Checkpoint],
                         max_unsigned_age: timedelta, now: datetime) -> None:
    """Refuse a log whose leaves older than ``max_unsigned_age`` are not all covered by a
    signed checkpoint. The platform signs one every checkpoint interval while the log
    grows, so old unsigned leaves mean checkpoints were deleted (or never made: the
    scheduler stopped); either way nothing outside the database vouches for those leaves.
    Leaf times rise with ``seq``, so the old leaves are a prefix and one count decides."""
    covered = max((cp.tree_size for cp in checkpoints), default=0)
    old = session.execute(sa_select(func.count()).select_from(AuditLeaf)
                          .where(AuditLeaf.ts < now - max_unsigned_age)).scalar()
    if old > covered:
        raise VerificationError(covered, f"leaves {covered}..{old - 1} are older than "
                                f"{max_unsigned_age} but no signed checkpoint covers them "
                                f"({len(checkpoints)} signed checkpoints): checkpoints were "
                                "deleted, or none was made for that long")


def _compare_session_nodes(session: Session, created: list[tuple[int, int, bytes]]) -> None:
    for level, index, h in created:
        stored = session.execute(sa_select(AuditNode.hash).where(
            AuditNode.level == level, AuditNode.index == index)).scalar()
        if stored != h:
            raise VerificationError(*bad_node(level, index))


def _check_orphans_and_head(session: Session, report: Report) -> None:
    if session.execute(sa_select(func.count()).select_from(AuditEvent)).scalar() \
            != report.bodies:
        orphan = session.execute(
            sa_select(AuditEvent.seq)
            .where(~exists().where(and_(AuditLeaf.seq == AuditEvent.seq)))
            .order_by(AuditEvent.seq).limit(1)).scalar()
        raise VerificationError(orphan, "an event body has no leaf: it was inserted")
    size, root = cps.head(session)
    if size != report.size:
        raise VerificationError(min(size, report.size),
                                f"the head says size {size}, the leaves make "
                                f"{report.size}: the log was truncated or extended")
    if root != report.root:
        raise VerificationError(size, f"the head's root at size {size} is {root.hex()}, the "
                                f"leaves make {report.root.hex()}: the head was rewritten")


def _check_consistency(session: Session, checkpoints: list[Checkpoint]) -> None:
    fetch = fetcher(session)
    for old, new in pairwise(checkpoints):
        try:
            proof = merkle.consistency_proof(old.tree_size, new.tree_size, fetch)
            merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash,
                                      new.root_hash, proof)
        except merkle.MerkleError as exc:
            raise VerificationError(old.tree_size, f"checkpoints {old.tree_size} and "
                                    f"{new.tree_size} are not consistent: {exc}") from exc


# --- export files -------------------------------------------------------------------------

EXPORT_BATCH = 4096


class _ExportPass:
    """The ordered pass over exported leaves, from the prefix at ``start``."""

    def __init__(self, checkpoints: list[Checkpoint], cutoff: bytes, start: int,
                 prefix: list[bytes], external: Sequence[External] = ()) -> None:
        self.pending = _pending(checkpoints, external)
        self.cutoff = cutoff
        self.report = Report(start=start, size=start)
        self.frontier = prefix
        self.last_checked = start
        self.counted: set[int] = set()  # the anchor may repeat the last checkpoint listed
        self.rows: list[Row] = []
        self._check_checkpoints()

    def add(self, row: Row) -> None:
        self.rows.append(row)
        if len(self.rows) >= EXPORT_BATCH:
            self.flush()

    def flush(self) -> None:
        hashes, problem = check_rows(self.rows, self.report.size, self.cutoff, self.report)
        self.rows = []
        for h in hashes:
            self.frontier, _ = merkle.append(self.frontier, self.report.size, h)
            self.report.size += 1
            self._check_checkpoints()
        if problem is not None:
            raise VerificationError(*problem)

    def _check_checkpoints(self) -> None:
        size = self.report.size
        while self.pending and self.pending[0][0].tree_size <= size:
            cp, source = self.pending.popleft()
            if cp.tree_size < size:
                if source is not None:
                    raise VerificationError(None, f"the {source} checkpoint at size "
                                            f"{cp.tree_size} lies before this export's "
                                            f"leaves (from {self.report.start}): cannot "
                                            "check it")
                continue  # before the verified range (an export's prefix)
            if merkle.frontier_root(self.frontier) != cp.root_hash:
                raise _mismatch(cp, self.last_checked, source)
            self.last_checked = size
            if source is not None:
                self.report.external += 1
            elif size not in self.counted:
                self.counted.add(size)
                self.report.checkpoints += 1


def verify_export(lines: IO[str] | Iterable[str], public_key: Ed25519PublicKey,
                  retention_cutoff: datetime, external: Sequence[External] = ()) -> Report:
    """Verify an export (``spe.audit.export``) with nothing but the public key; the export
    must extend every ``external`` checkpoint (which must lie inside its range)."""
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
    _check_signatures([*checkpoints, anchor, *(cp for cp, _ in external)], public_key)
    if len(prefix) != start.bit_count():
        raise VerificationError(start, "the export's prefix does not describe its start")
    for cp, source in external:
        if cp.tree_size > end:
            if cp.tree_size > anchor.tree_size:
                raise _truncated(anchor.tree_size, cp, source)
            raise VerificationError(None, f"the {source} checkpoint at size {cp.tree_size} "
                                    f"lies past this export's leaves (to {end}): cannot "
                                    "check it")
    run = _ExportPass([*checkpoints, anchor] if anchor.tree_size == end else checkpoints,
                      _cutoff(retention_cutoff), start, prefix, external)
    for number, line in enumerate(it, start=2):
        try:
            row = _row(json.loads(line))
        except (KeyError, ValueError, TypeError, AttributeError, struct.error) as exc:
            run.flush()
            raise VerificationError(run.report.size, f"line {number} is malformed: {exc!r}") \
                from exc
        if row[0] >= end:
            run.flush()
            raise VerificationError(run.report.size, f"found leaf {row[0]}, but the export "
                                    f"promised leaves up to {end - 1}")
        run.add(row)
    run.flush()
    if run.report.size != end:
        raise VerificationError(run.report.size, f"the export ends at {run.report.size}, its "
                                f"header promises leaves up to {end - 1}: truncated")
    if run.pending:
        raise _truncated(run.report.size, *run.pending[0])
    run.report.root = merkle.frontier_root(run.frontier)
    try:
        merkle.verify_consistency(end, anchor.tree_size, run.report.root, anchor.root_hash,
                                  [bytes.fromhex(p) for p in header["anchor"]["proof"]])
    except merkle.MerkleError as exc:
        raise VerificationError(start, f"the exported leaves are not part of the signed "
                                f"checkpoint at size {anchor.tree_size}: {exc}") from exc
    return run.report


def _row(line: dict) -> Row:
    """An export line as the row :func:`check_rows` takes (the body encoded here)."""
    leaf, event, salt = line["leaf"], line.get("event"), line.get("salt")
    if type(leaf["seq"]) is not int:
        raise TypeError(f"seq {leaf['seq']!r} is not an integer")
    return (leaf["seq"], leaf["v"], leaf["ts"].encode(), bytes.fromhex(leaf["body"]),
            bytes.fromhex(leaf["leaf_hash"]), None if salt is None else bytes.fromhex(salt),
            None if event is None else encoding.body_bytes(event, _body_version(leaf["v"])))


def _body_version(version: object) -> int:
    """The leaf's version, or any known one if it is not (the checks then refuse the leaf
    before they look at its body)."""
    return version if version in encoding.VERSIONS and type(version) is int \
        else encoding.VERSION


# --- before signing -------------------------------------------------------------------------

def verify_tail(session: Session, public_key: Ed25519PublicKey, base: Checkpoint | None,
                retention_cutoff: datetime) -> Report:
    """Verify the log from ``base`` (the last checkpoint known good: a witness's, else the
    database's latest) to its head, through the session: the stored subtree hashes at
    ``base.tree_size`` must make ``base``'s signed root, every leaf after it passes the
    checks, every checkpoint in between matches, and the leaves make the head's root. What
    :func:`spe.audit.signer.create_checkpoint` runs before it signs a new head, so a
    signature never covers a log that does not verify."""
    size, root = cps.head(session)
    start = 0 if base is None else base.tree_size
    if start > size:
        raise VerificationError(size, f"the head says size {size}, but a checkpoint known "
                                f"good covers {start}: the log was truncated")
    try:
        found = fetcher(session)(merkle.frontier_ids(start)) if start else {}
        prefix = [found[i] for i in merkle.frontier_ids(start)]
    except (KeyError, merkle.MerkleError, LookupError) as exc:
        raise VerificationError(start, f"the stored subtree hashes at size {start} are "
                                "missing") from exc
    known = [cp for cp in cps.between(session, start + 1, size)]
    _check_signatures(known, public_key)
    run = _ExportPass([*([base] if base else []), *known], _cutoff(retention_cutoff), start,
                      prefix)
    for row in _session_rows(session, start, size):
        run.add(row)
    run.flush()
    if run.report.size != size:
        raise VerificationError(run.report.size, f"the head says size {size}, the leaves "
                                f"stop at {run.report.size}: the log was truncated")
    run.report.root = merkle.frontier_root(run.frontier)
    if run.report.root != root:
        raise VerificationError(size, f"the head's root at size {size} is {root.hex()}, the "
                                f"leaves make {run.report.root.hex()}: the head was "
                                "rewritten")
    return run.report


def _session_rows(session: Session, start: int, end: int) -> Iterable[Row]:
    """The leaves ``[start, end)`` as :func:`check_rows` takes them, read through the
    session (so an append not yet committed in it is seen). A value the ORM types cannot
    read is malformed."""
    query = export_query(start, end)
    try:
        for seq, version, ts, commitment, leaf_hash, salt, *body in \
                session.connection().execute(query):
            event = None
            if salt is not None:
                event = dict(zip(encoding.BODY_FIELDS, body, strict=True))
                event["ts"] = encoding.format_ts(event["ts"])
            yield (seq, version, encoding.format_ts(ts).encode(), commitment, leaf_hash, salt,
                   None if event is None else
                   encoding.body_bytes(event, _body_version(version)))
    except (ValueError, TypeError, AttributeError) as exc:
        raise VerificationError(None, f"a leaf or body cannot be read: {exc}") from exc
