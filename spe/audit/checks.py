"""The checks every verified leaf passes, shared by the database and export modes.

One row per leaf, ``(seq, version, ts, commitment, leaf_hash, salt, body)``
(:mod:`spe.audit.scan`): the leaf is the next one, its version is known, its ``ts`` is the
27-byte RFC 3339 form and its commitment 32 bytes (whatever the version: otherwise bytes
could move between them under one version-2 hash and disguise a deletion as a purge), its
stored hash is the hash of its leaf, and its body, if still there, matches the leaf's salted
commitment and carries the leaf's time; a body missing past retention is a purge gap,
within retention tampering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from spe.audit import encoding, layout, merkle
from spe.audit.scan import ROW_TYPES, Malformed, Row

Problem = tuple[int, str]  # (first bad seq, what)


class VerificationError(Exception):
    """The log or export is not what its checkpoints commit to; ``seq`` is the first bad
    sequence number when one can be named."""

    def __init__(self, seq: int | None, problem: str) -> None:
        self.seq = seq
        self.problem = problem
        super().__init__(f"seq {seq}: {problem}" if seq is not None else problem)


@dataclass
class Report:
    start: int = 0
    size: int = 0
    bodies: int = 0
    purged: int = 0
    gaps: list[list[int]] = field(default_factory=list)  # [first, last] purged seqs
    checkpoints: int = 0
    external: int = 0  # checkpoints kept outside the database that the log extends
    root: bytes = merkle.EMPTY_ROOT
    verifier: str = "python"  # or "compiled" (spe.audit.native)

    def note_purged(self, first: int, last: int | None = None) -> None:
        last = first if last is None else last
        self.purged += last - first + 1
        if self.gaps and self.gaps[-1][1] == first - 1:
            self.gaps[-1][1] = last
        else:
            self.gaps.append([first, last])

    def summary(self) -> str:
        lines = [f"verified leaves {self.start}..{self.size - 1} ({self.size - self.start}), "
                 f"{self.bodies} bodies, {self.checkpoints} signed checkpoints"
                 + (f" and {self.external} kept outside the database" if self.external
                    else "") + "; "
                 + f"root at size {self.size}: {self.root.hex()} ({self.verifier} verifier)"]
        if self.purged:
            ranges = ", ".join(f"{a}..{b}" for a, b in self.gaps[:10])
            more = " …" if len(self.gaps) > 10 else ""
            lines.append(f"{self.purged} bodies purged past retention (gaps: {ranges}{more})")
        return "\n".join(lines)


@dataclass
class ChunkResult:
    """What one chunk ``[start, end)`` of leaves proved; ``end`` stops at a problem."""

    start: int
    end: int
    frontier: list[bytes]  # complete subtrees over [start, end), lowest first
    at: dict[int, list[bytes]]  # checkpoint size -> the same over [start, size)
    report: Report
    problem: Problem | None


def check_rows(rows: Sequence[Row], expect: int, cutoff: bytes, report: Report
               ) -> tuple[list[bytes], Problem | None]:
    """The leaf hashes of ``rows`` (which must continue at seq ``expect``) up to the first
    bad one, and its problem. Bodies and purge gaps are counted into ``report``."""
    sha256, shape, v2, v3 = (hashlib.sha256, encoding.TS_PATTERN.fullmatch,
                             encoding.LEAF_HEAD.pack, encoding.LEAF_V3_HEAD.pack)
    ts_bytes, hash_bytes, versions = encoding.TS_BYTES, layout.HASH_BYTES, encoding.VERSIONS
    body_ts, ts_length = encoding.BODY_TS, encoding.BODY_TS_LENGTH
    own_length, commitment_length = ts_bytes.to_bytes(4, "big"), bytes((hash_bytes,))
    hashes: list[bytes] = []
    keep = hashes.append
    bodies = 0
    try:
        for seq, v, ts, commitment, stored, salt, body in rows:
            if body.__class__ is Malformed:
                return hashes, (expect, f"leaf is malformed: column {body.column} has the "
                                        "wrong type")
            if seq != expect:
                if type(seq) is not int:
                    return hashes, (expect, "leaf is malformed: column seq has the wrong type")
                what = "appears twice or out of order" if seq < expect else "is missing"
                return hashes, (expect, f"leaf {what} (found seq {seq} next)")
            if v not in versions or type(v) is not int:
                if type(v) is not int:
                    return hashes, (expect, "leaf is malformed: column version has the wrong "
                                            "type")
                return hashes, (seq, f"audit leaf version {v} is not supported")
            if len(ts) != ts_bytes or len(commitment) != hash_bytes or not shape(ts):
                return hashes, (seq, encoding.leaf_problem(ts, commitment))
            if v == 3:
                h = sha256(b"\x00" + v3(3, seq, ts_bytes) + ts + commitment_length
                           + commitment).digest()
            else:
                h = sha256(b"\x00" + v2(v, seq) + ts + commitment).digest()
            if h != stored:
                return hashes, (seq, "stored leaf hash is not the hash of the leaf")
            if body is None:
                if ts >= cutoff:
                    return hashes, (seq, f"body deleted within retention (event of "
                                         f"{ts.decode(errors='replace')})")
                report.note_purged(seq)
            elif salt is None or sha256(salt + body).digest() != commitment:
                return hashes, (seq, "body does not match the leaf's commitment")
            elif body[body_ts] != ts or body[ts_length] != own_length:
                return hashes, (seq, "the body's time is not the leaf's")
            else:
                bodies += 1
            keep(h)
            expect += 1
    except TypeError as exc:  # a column of the wrong type
        return hashes, (expect, f"leaf is malformed: {_wrong_type(rows[len(hashes)]) or exc}")
    finally:
        report.bodies += bodies
    return hashes, None


def _wrong_type(row: Row) -> str | None:
    bad = next((name for (name, kind), value in zip(ROW_TYPES, row, strict=False)
                if not isinstance(value, kind)), None)
    return None if bad is None else f"column {bad} has the wrong type"


def bad_node(level: int, index: int) -> Problem:
    first = index << level
    return first, (f"stored subtree hash ({level}, {index}) over leaves "
                   f"{first}..{first + (1 << level) - 1} is wrong or missing: proofs served "
                   "from it would fail")
