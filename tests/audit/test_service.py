"""What auditors ask: inclusion proofs in two round trips, search by time through seq."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session

from spe.audit import Actor, draft, service
from spe.audit.log import append
from spe.audit.signer import create_checkpoint
from spe.db.types import utcnow
from spe.errors import InvalidInput, NotFound
from tests.audit.factories import build_log

DAY = timedelta(days=1)


@contextmanager
def statements(engine):
    seen: list[str] = []

    def note(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_every_inclusion_proof_verifies_in_two_round_trips(engine, signer):
    with Session(engine) as s:
        append(s, [draft(action="first.event", actor=Actor.system("tests"))])
        create_checkpoint(s, signer)  # a tree of one leaf: an empty path
        s.commit()
    build_log(engine, signer, 12)
    with Session(engine) as s:
        for size in (1, 13):
            for seq in range(size):
                with statements(engine) as seen:
                    proof = service.inclusion(s, seq, size)
                assert len(seen) <= 2, seen
                assert proof["leaf"]["seq"] == seq and proof["tree_size"] == size
                service.verify_inclusion(proof, signer.public_key)
        with pytest.raises(InvalidInput, match="not covered"):
            service.inclusion(s, 13)
        with pytest.raises(NotFound):
            service.inclusion(s, 0, 5)  # no checkpoint at that size


def test_search_by_time_range_maps_to_seq_and_pages(engine):
    now = utcnow()
    with Session(engine) as s:
        for days_ago in (10, 5, 5, 2, 1):
            append(s, [draft(action="thing.done", actor=Actor.system("tests"),
                             project_id=f"p-{days_ago % 2}")], at=now - days_ago * DAY)
        s.commit()
        flt = service.EventFilter(since=now - 6 * DAY, until=now - DAY)
        page, cursor = service.search(s, flt, limit=2)
        assert [e.seq for e in page] == [1, 2] and cursor == 2
        page, cursor = service.search(s, flt, after=cursor, limit=2)
        assert [e.seq for e in page] == [3] and cursor is None
        found, _ = service.search(s, service.EventFilter(project_id="p-1", since=now - 6 * DAY))
        assert [e.seq for e in found] == [1, 2, 4]
        assert service.search(s, service.EventFilter(since=now))[0] == []
        with pytest.raises(InvalidInput):
            service.search(s, flt, limit=0)


def test_events_at_the_widened_edges_are_dropped_across_batches(engine):
    since = utcnow() - DAY
    minute = timedelta(minutes=1)
    with Session(engine) as s:  # clocks of two replicas 2 minutes apart
        for offset in (-minute, minute, -2 * minute, 2 * minute):
            append(s, [draft(action="thing.done", actor=Actor.system("tests"))],
                   at=since + offset)
        s.commit()
        flt = service.EventFilter(since=since)
        page, cursor = service.search(s, flt, limit=1)
        assert [e.seq for e in page] == [1] and cursor == 1
        page, cursor = service.search(s, flt, after=cursor, limit=1)
        assert [e.seq for e in page] == [3] and cursor is None
        until = service.EventFilter(until=since)
        assert [e.seq for e in service.search(s, until)[0]] == [0, 2]
