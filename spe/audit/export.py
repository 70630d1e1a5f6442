"""Export a range of the log as JSON Lines that verify offline with only the public key.

Line 1 is a header: the range ``[from, to)``, the *prefix* (hashes of the complete subtrees
covering ``[0, from)``, lowest first, so the verifier can rebuild the tree from ``from``),
every checkpoint inside the range, and an *anchor*: the latest signed checkpoint with the
consistency proof from size ``to`` to it. Then one line per event: its leaf and, unless
purged, its body and salt. ``to`` is clamped to the anchor's size (checkpoint first).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import Select
from sqlalchemy import select as sa_select
from sqlmodel import Session

from spe.audit import checkpoints as cps
from spe.audit import encoding, merkle
from spe.audit.models import AuditEvent, AuditLeaf
from spe.audit.service import fetcher
from spe.errors import InvalidInput
from spe.messages import Message

MEDIA_TYPE = "application/x-ndjson"
BATCH = 10_000


def export_lines(session: Session, start: int = 0, end: int | None = None) -> Iterator[str]:
    header, end = export_header(session, start, end)
    yield header
    yield from export_events(session, start, end)


def export_header(session: Session, start: int = 0, end: int | None = None
                  ) -> tuple[str, int]:
    """The header line and the (clamped) end of the range."""
    anchor = cps.latest(session)
    end = anchor.tree_size if end is None else min(end, anchor.tree_size)
    if not 0 <= start <= end:
        raise InvalidInput(Message("cannot export from {start} to {end} (the latest "
                                   "checkpoint covers {tree_size} events)", start=start, end=end,
                                   tree_size=anchor.tree_size), code="audit.bad_range")
    fetch = fetcher(session)
    ids = merkle.frontier_ids(start)
    found = fetch(ids) if ids else {}
    header = {
        "type": "spe-audit-export", "v": 1, "from": start, "to": end,
        "prefix": [found[i].hex() for i in ids],
        "checkpoints": [c.to_json() for c in cps.between(session, start, end)],
        "anchor": {"checkpoint": anchor.to_json(),
                   "proof": [p.hex() for p in
                             merkle.consistency_proof(end, anchor.tree_size, fetch)]},
    }
    return json.dumps(header) + "\n", end


def export_query(start: int, end: int) -> Select:
    """Leaves ``[start, end)`` with their salts and body fields (None once purged)."""
    columns = [AuditLeaf.seq, AuditLeaf.version, AuditLeaf.ts, AuditLeaf.commitment,
               AuditLeaf.leaf_hash, AuditEvent.salt,
               *(getattr(AuditEvent, n).label(f"b_{n}") for n in encoding.BODY_FIELDS)]
    return (sa_select(*columns).outerjoin(AuditEvent, AuditEvent.seq == AuditLeaf.seq)
            .where(AuditLeaf.seq >= start, AuditLeaf.seq < end).order_by(AuditLeaf.seq)
            .execution_options(yield_per=BATCH))


def export_events(session: Session, start: int, end: int) -> Iterator[str]:
    query = export_query(start, end)
    for row in session.connection().execute(query):  # Core rows: no ORM loading
        seq, version, ts, commitment, leaf_hash, salt, *body = row
        event = None
        if salt is not None:
            event = dict(zip(encoding.BODY_FIELDS, body, strict=True))
            event["ts"] = encoding.format_ts(event["ts"])
        line = {"leaf": {"v": version, "seq": seq, "ts": encoding.format_ts(ts),
                         "body": commitment.hex(), "leaf_hash": leaf_hash.hex()},
                "event": event, "salt": salt.hex() if salt is not None else None}
        yield json.dumps(line, ensure_ascii=False) + "\n"
