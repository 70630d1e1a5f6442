"""The per-leaf checks, on hand-made rows: each kind of problem, named at its seq."""

from __future__ import annotations

import os

import pytest

from spe.audit import encoding, merkle
from spe.audit.checks import Report, check_rows

CUTOFF = b"2025-01-01T00:00:00.000000Z"
OLD, NEW = "2024-06-01T00:00:00.000000Z", "2025-06-01T00:00:00.000000Z"


def row(seq: int, ts: str = NEW, body: bool = True, body_ts: str | None = None):
    fields = {name: None for name in encoding.BODY_FIELDS}
    fields.update(seq=seq, ts=body_ts or ts, actor_type="system", actor_id="tests", action="a.b",
                  outcome="success", details={"i": seq})
    salt, data = os.urandom(32), encoding.body_bytes(fields)
    commitment = encoding.commitment(salt, data)
    leaf_hash = merkle.leaf_hash(encoding.leaf_bytes(seq, ts, commitment))
    return (seq, encoding.VERSION, ts.encode(), commitment, leaf_hash,
            salt if body else None, data if body else None)


def test_good_rows_give_their_leaf_hashes_and_count_bodies_and_gaps():
    rows = [row(5), row(6, OLD, body=False), row(7, OLD, body=False), row(8)]
    report = Report()
    hashes, problem = check_rows(rows, 5, CUTOFF, report)
    assert problem is None and hashes == [r[4] for r in rows]
    assert (report.bodies, report.purged, report.gaps) == (2, 2, [[6, 7]])


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: (9, *r[1:]), "is missing"),
    (lambda r: (3, *r[1:]), "appears twice or out of order"),
    (lambda r: (r[0], 1, *r[2:]), "version 1 is not supported"),
    (lambda r: (*r[:4], bytes(32), *r[5:]), "stored leaf hash"),
    (lambda r: (*r[:5], os.urandom(32), r[6]), "does not match the leaf's commitment"),
    (lambda r: (*r[:6], r[6] + b"x"), "does not match the leaf's commitment"),
    (lambda r: (*r[:5], None, None), "body deleted within retention"),
    (lambda r: (r[0], r[1], "text", *r[3:]), "leaf is malformed"),
    (lambda r: (r[0], r[1], r[2][:20], *r[3:]), "ts is not a 27-byte RFC 3339"),
    (lambda r: (*r[:3], r[3] + b"x", *r[4:]), "commitment is not 32 bytes"),
    (lambda r: row(r[0], body_ts=OLD), "the body's time is not the leaf's"),
])
def test_the_first_bad_row_stops_the_check(change, message):
    rows = [row(5), row(6), row(7)]
    rows[1] = change(rows[1])
    hashes, problem = check_rows(rows, 5, CUTOFF, Report())
    assert hashes == [rows[0][4]]
    assert problem[0] == 6 and message in problem[1]
