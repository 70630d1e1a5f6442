"""The fast reader: the bodies SQLite (packed in Python) and PostgreSQL (serialised by SQL)
hand the verifier are byte for byte the encoding the append path committed to."""

from __future__ import annotations

from contextlib import closing

import pytest
from sqlmodel import Session, select

from spe.audit import Actor, draft, encoding
from spe.audit.log import append
from spe.audit.models import AuditEvent, AuditLeaf
from spe.audit.scan import Source, UnsupportedDatabase
from spe.db import make_engine

DRAFTS = [
    draft(action="permit.revoke", actor=Actor.user("ü-1", "permit_manager"),
          target_type="permit", target_id="", project_id="p-é",
          details={"reason": "fin", "nested": {"b": [1, 2.5, None], "a": "日本"}}),
    draft(action="a.b", actor=Actor.system("reconciler")),
    draft(action="storage.object.get", actor=Actor.component("storage"), outcome="denied",
          target_type="object", target_id="b/k", details={}),
]


def test_bodies_and_times_match_the_committed_encoding(engine):
    with Session(engine) as s:
        append(s, DRAFTS)
        s.commit()
        events = {e.seq: e for e in s.exec(select(AuditEvent))}
        leaves = {leaf.seq: leaf for leaf in s.exec(select(AuditLeaf))}
    with closing(Source.of(engine).open()) as reader:
        batches = list(reader.leaves(0, 10, batch=2))
        nodes = reader.nodes(1, 0, 5)
    assert [len(b) for b in batches] == [2, 1]
    for seq, version, ts, commitment, leaf_hash, salt, body in [r for b in batches for r in b]:
        event, leaf = events[seq], leaves[seq]
        assert body == encoding.body_bytes({n: getattr(event, n) for n in encoding.BODY_FIELDS})
        assert ts == encoding.format_ts(leaf.ts).encode()
        assert (version, commitment, leaf_hash, salt) == \
            (leaf.version, leaf.commitment, leaf.leaf_hash, event.salt)
        assert encoding.commitment(salt, body) == commitment
    assert [index for index, _ in nodes] == [0]  # the one complete pair of 3 leaves


def test_unsupported_databases_are_named(tmp_path):
    with pytest.raises(UnsupportedDatabase, match=":memory:"):
        Source.of(make_engine("sqlite://"))
    assert Source.of(make_engine(f"sqlite:///{tmp_path / 'a.db'}")).dialect == "sqlite"


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql+psycopg://u:p@db.example.org/audit", "sslmode=verify-full"),
    ("postgresql+psycopg://u:p@db.example.org/audit?sslmode=verify-full", "sslmode=verify-full"),
    ("postgresql+psycopg://u:p@127.0.0.1:5432/audit", "@127.0.0.1:5432/audit"),
    ("postgresql+psycopg://u:p@localhost/audit?sslmode=disable", "sslmode=disable"),
    ("postgresql+psycopg://u:p@/audit?host=/run/postgresql", "host=%2Frun%2Fpostgresql"),
])
def test_remote_postgres_is_read_only_over_verified_tls(url, expected):
    """The verifier checks the database, so it must know it talks to the real server: a
    remote host gets sslmode=verify-full (libpq's default, prefer, falls back to plain
    text for a man in the middle); a Unix socket or loopback is left as it is."""
    target = Source.of(make_engine(url)).target
    assert expected in target
    if "example.org" not in url:
        assert "verify-full" not in target


@pytest.mark.parametrize("mode", ["disable", "prefer", "require", "verify-ca"])
def test_a_weaker_sslmode_for_a_remote_host_is_refused(mode):
    url = f"postgresql+psycopg://u:p@db.example.org/audit?sslmode={mode}"
    with pytest.raises(UnsupportedDatabase, match="verify-full"):
        Source.of(make_engine(url))


def test_the_compiled_verifier_refuses_it_too_before_connecting():
    """A second line for callers that hand the compiled verifier a connection string
    themselves: it refuses without opening a connection (no server answers here)."""
    from spe.audit import native

    for dsn in ("host=db.example.org dbname=audit sslmode=prefer",
                "host=/run/postgresql,db.example.org dbname=audit"):
        with pytest.raises(UnsupportedDatabase, match="without sslmode=verify-full"):
            native.verify_chunk(Source("postgresql", dsn), 0, 1, [], b"")
