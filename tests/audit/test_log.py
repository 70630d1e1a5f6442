"""Appending: fields, context, one transaction with the caller, gapless under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from spe import context
from spe.audit import (
    Actor,
    AuditEvent,
    InvalidAuditEvent,
    draft,
    encoding,
    merkle,
    record,
    record_many,
)
from spe.audit.models import AuditLeaf, AuditNode


def seqs(engine) -> list[int]:
    with Session(engine) as s:
        return list(s.exec(select(AuditLeaf.seq).order_by(AuditLeaf.seq)))


def test_record_fills_every_field_from_arguments_and_context(engine):
    ctx = context.RequestContext(request_id="req-12345678", trace_id="ab" * 16,
                                 client_addr="10.0.0.7")
    with Session(engine) as s, context.bound(ctx):
        event = record(s, action="permit.revoke", actor=Actor.user("u-1", "permit_manager"),
                       target_type="permit", target_id="pm-1", project_id="p-1",
                       details={"reason": "ended"})
        s.commit()
        stored = s.get(AuditEvent, event.seq)
        assert (stored.seq, stored.actor_type, stored.actor_id, stored.actor_role) == \
            (0, "user", "u-1", "permit_manager")
        assert (stored.action, stored.target_type, stored.target_id, stored.project_id,
                stored.outcome) == ("permit.revoke", "permit", "pm-1", "p-1", "success")
        assert (stored.request_id, stored.trace_id, stored.client_addr) == \
            ("req-12345678", "ab" * 16, "10.0.0.7")
        assert stored.details == {"reason": "ended"} and stored.ts.tzinfo is not None
        leaf = s.get(AuditLeaf, 0)
        body = encoding.body_bytes({n: getattr(stored, n) for n in encoding.BODY_FIELDS})
        assert leaf.commitment == encoding.commitment(stored.salt, body)
        assert leaf.leaf_hash == merkle.leaf_hash(encoding.leaf_bytes(0, stored.ts,
                                                                      leaf.commitment))


def test_a_rolled_back_transaction_leaves_no_gap(engine):
    with Session(engine) as s:
        record(s, action="a.one", actor=Actor.system("tests"))
        s.commit()
    with Session(engine) as s:
        record(s, action="a.two", actor=Actor.system("tests"))
        s.rollback()
    with Session(engine) as s:
        record_many(s, [draft(action="a.three", actor=Actor.component("storage"))] * 3)
        s.commit()
        actions = list(s.exec(select(AuditEvent.action).order_by(AuditEvent.seq)))
    assert seqs(engine) == [0, 1, 2, 3]
    assert actions == ["a.one", "a.three", "a.three", "a.three"]


def test_the_head_is_locked_at_commit_only(engine):
    """A transaction that has recorded an event does not hold the head until it commits:
    another one appends and commits meanwhile, and the events take the order of the
    commits. (record() used to lock the head at once: the other transaction waited, and
    under load every writer queued behind whatever followed a record.)"""
    with Session(engine) as slow:
        first = record(slow, action="a.slow", actor=Actor.system("tests"))
        assert first.seq is None  # known at commit
        with Session(engine) as quick:
            wait = "SET LOCAL lock_timeout = '3s'" if engine.dialect.name == "postgresql" \
                else "PRAGMA busy_timeout = 3000"
            quick.execute(text(wait))
            second = record(quick, action="a.quick", actor=Actor.system("tests"))
            quick.commit()
        slow.commit()
    assert (second.seq, first.seq) == (0, 1)
    assert seqs(engine) == [0, 1]


def test_concurrent_transactions_get_gapless_sequence_numbers(engine):
    def work(i: int) -> None:
        for j in range(10):
            with Session(engine) as s:
                record(s, action="load.test", actor=Actor.system(f"w{i}"), details={"j": j})
                s.commit()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert seqs(engine) == list(range(40))
    with Session(engine) as s:
        leaves = [leaf.leaf_hash for leaf in s.exec(select(AuditLeaf).order_by(AuditLeaf.seq))]
        nodes = {(n.level, n.index): n.hash for n in s.exec(select(AuditNode))}
    assert len(nodes) == 40 - (40).bit_count()  # complete subtrees above 40 leaves
    assert nodes[(3, 4)] == merkle.root(leaves[32:40])
    assert nodes[(5, 0)] == merkle.root(leaves[:32])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"action": "Permit Revoke"}, "dotted name"),
    ({"action": "permit"}, "dotted name"),
    ({"outcome": "maybe"}, "outcome"),
    ({"details": {"api_token": "x"}}, "looks like a secret"),
    ({"details": {"nested": [{"password": "x"}]}}, r"details.nested\[0\].password"),
    ({"details": {"note": "-----BEGIN PRIVATE KEY-----\nMII"}}, "private key"),
    ({"details": {"blob": "x" * 5000}}, "limit is 4096"),
    ({"details": {"when": object()}}, "not plain JSON"),
    ({"target_id": 7}, "target_id"),
])
def test_bad_events_are_refused(sqlite_engine, kwargs, message):
    args = {"action": "permit.revoke", "actor": Actor.system("tests"), **kwargs}
    with Session(sqlite_engine) as s, pytest.raises(InvalidAuditEvent, match=message):
        record(s, **args)
    assert seqs(sqlite_engine) == []


def test_identifiers_of_secrets_are_not_secrets(sqlite_engine):
    with Session(sqlite_engine) as s:
        record(s, action="token.revoke", actor=Actor.system("tests"),
               details={"token_id": "t-1", "key_id": "k", "expires_at": "2030-01-01"})
        s.commit()
    assert seqs(sqlite_engine) == [0]


def test_actor_shapes():
    assert Actor.user("u", "auditor") == Actor("user", "u", "auditor")
    assert Actor.component("hub:p-1").type == "component"
    with pytest.raises(InvalidAuditEvent):
        Actor.user("")
    with pytest.raises(InvalidAuditEvent):
        Actor("system", "x", "admin")
