"""Verification detects every edit, deletion, insertion, reordering and truncation, naming
the first bad sequence number, and tells purged bodies (gaps) from tampering."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, SQLModel

from spe.audit import checkpoints as cps
from spe.audit import native
from spe.audit.export import export_lines
from spe.audit.service import purge
from spe.audit.verify import VerificationError, verify_database, verify_export
from spe.crypto.signing import SigningKey
from spe.db import make_engine
from spe.db.types import utcnow
from tests.audit.conftest import audit_tables, make_pg_audit
from tests.audit.factories import build_log

N = 24
CUTOFF = utcnow() - timedelta(days=366)
LEAF_FIELDS = ["v", "seq", "ts", "body", "leaf_hash"]
SMALL_CHUNKS = {"chunk_level": 3, "block_level": 2}
BODY_FIELDS = ["seq", "ts", "actor_id", "actor_role", "action", "target_id", "project_id",
               "outcome", "request_id", "details"]


@pytest.fixture(scope="module")
def log_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "audit.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    signer = SigningKey.load_or_create(path.parent / "key.pem")
    build_log(engine, signer, N, checkpoint_at=(5, 16))
    engine.dispose()
    return path, signer


@pytest.fixture(scope="module")
def export(log_db) -> list[str]:
    engine = make_engine(f"sqlite:///{log_db[0]}")
    with Session(engine) as s:
        lines = list(export_lines(s))
    engine.dispose()
    return lines


def test_an_untouched_log_and_its_export_verify(log_db, export):
    path, signer = log_db
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as s:
        report = verify_database(s, signer.public_key, CUTOFF)
    assert (report.size, report.bodies, report.purged, report.checkpoints) == (N, N, 0, 3)
    exported = verify_export(export, signer.public_key, CUTOFF)
    assert exported.root == report.root and exported.size == N


def test_a_partial_export_verifies_from_its_prefix(log_db):
    path, signer = log_db
    engine = make_engine(f"sqlite:///{path}")
    with Session(engine) as s:
        lines = list(export_lines(s, 7, 19))
        short = list(export_lines(s, 7, 12))
    report = verify_export(lines, signer.public_key, CUTOFF)
    assert (report.start, report.size, report.checkpoints) == (7, 19, 1)  # the one at 16
    assert verify_export(short, signer.public_key, CUTOFF).size == 12
    for export, problem in ((lines, "checkpoint at size 16 does not match"),
                            (short, "not part of the signed checkpoint at size 24")):
        export[0] = export[0].replace(json.loads(export[0])["prefix"][0], "00" * 32)
        with pytest.raises(VerificationError, match=problem):
            verify_export(export, signer.public_key, CUTOFF)


def test_another_key_is_refused(export, tmp_path):
    other = SigningKey.load_or_create(tmp_path / "other.pem")
    with pytest.raises(VerificationError, match="not the trusted key"):
        verify_export(export, other.public_key, CUTOFF)
    header = json.loads(export[0])
    forged = dict(header["checkpoints"][0], key_id=other.key_id,
                  signature=other.sign(b"something else"))
    header["checkpoints"][0] = forged
    with pytest.raises(VerificationError, match="signature does not verify"):
        verify_export([json.dumps(header), *export[1:]], other.public_key, CUTOFF)


def _flip(value):
    if isinstance(value, bool) or value is None:
        return "x"
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        if len(value) == 64:  # hex digests: stay well-formed
            return ("0" if value[0] != "0" else "1") + value[1:]
        return value[:-1] + ("Z" if not value.endswith("Z") else "0")
    if isinstance(value, dict):
        return {**value, "extra": 1}
    return "x"


mutations = st.one_of(
    st.tuples(st.just("leaf"), st.integers(0, N - 1), st.sampled_from(LEAF_FIELDS)),
    st.tuples(st.just("body"), st.integers(0, N - 1), st.sampled_from(BODY_FIELDS)),
    st.tuples(st.just("salt"), st.integers(0, N - 1), st.none()),
    st.tuples(st.just("delete"), st.integers(0, N - 1), st.none()),
    st.tuples(st.just("drop_body"), st.integers(0, N - 1), st.none()),
    st.tuples(st.just("truncate"), st.integers(0, N - 1), st.none()),
    st.tuples(st.just("insert"), st.integers(0, N - 1), st.integers(0, N - 1)),
    st.tuples(st.just("swap"), st.integers(0, N - 2), st.integers(1, N - 1)),
)


@settings(max_examples=150, deadline=None)
@given(mutations)
def test_any_change_to_an_export_names_the_first_bad_seq(log_db, export, mutation):
    kind, k, arg = mutation
    events = [json.loads(line) for line in export[1:]]
    first_bad = k
    if kind == "leaf":
        events[k]["leaf"][arg] = _flip(events[k]["leaf"][arg])
    elif kind == "body":
        events[k]["event"][arg] = _flip(events[k]["event"][arg])
    elif kind == "salt":
        events[k]["salt"] = _flip(events[k]["salt"])
    elif kind == "delete":
        del events[k]
    elif kind == "drop_body":
        events[k]["event"] = events[k]["salt"] = None
    elif kind == "truncate":
        events = events[:k]
    elif kind == "insert":
        events.insert(k, dict(events[arg]))
        if arg == k:  # an exact copy of event k placed before it: k+1 is the duplicate
            first_bad = k + 1
    elif kind == "swap":
        j = min(N - 1, k + arg)
        if j == k:
            return
        events[k], events[j] = events[j], events[k]
    lines = [export[0], *(json.dumps(e) for e in events)]
    with pytest.raises(VerificationError) as caught:
        verify_export(lines, log_db[1].public_key, CUTOFF)
    assert caught.value.seq == first_bad, str(caught.value)


DB_MUTATIONS = {
    "event_action": "UPDATE audit_event SET action = 'forged.action' WHERE seq = {k}",
    "event_actor": "UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = {k}",
    "event_details": "UPDATE audit_event SET details = '{{\"i\": -1}}' WHERE seq = {k}",
    "event_salt": "UPDATE audit_event SET salt = zeroblob(32) WHERE seq = {k}",
    "event_ts": "UPDATE audit_event SET ts = '2020-01-01 00:00:00.000000' WHERE seq = {k}",
    "leaf_commitment": "UPDATE audit_leaf SET commitment = zeroblob(32) WHERE seq = {k}",
    "leaf_hash": "UPDATE audit_leaf SET leaf_hash = zeroblob(32) WHERE seq = {k}",
    "leaf_ts": "UPDATE audit_leaf SET ts = '2020-01-01 00:00:00.000000' WHERE seq = {k}",
    "leaf_ts_short": "UPDATE audit_leaf SET ts = '2020-01-01 00:00:00' WHERE seq = {k}",
    "leaf_commitment_long": "UPDATE audit_leaf SET commitment = zeroblob(33) WHERE seq = {k}",
    "delete_event": "DELETE FROM audit_leaf WHERE seq = {k}; DELETE FROM audit_event "
                    "WHERE seq = {k}",
    "delete_body": "DELETE FROM audit_event WHERE seq = {k}",
    "truncate": "DELETE FROM audit_leaf WHERE seq >= {k}; DELETE FROM audit_event "
                "WHERE seq >= {k}",
    "node": "UPDATE audit_node SET hash = zeroblob(32) WHERE level = 1 AND \"index\" = {k2}",
    "swap": "UPDATE audit_leaf SET seq = -1 WHERE seq = {k}; UPDATE audit_leaf SET seq = {k} "
            "WHERE seq = {j}; UPDATE audit_leaf SET seq = {j} WHERE seq = -1",
    # SQLite keeps any type in any column: values only an edit could have put there
    "leaf_commitment_type": "UPDATE audit_leaf SET commitment = 5 WHERE seq = {k}",
    "event_ts_type": "UPDATE audit_event SET ts = 5 WHERE seq = {k}",
    "event_text_blob": "UPDATE audit_event SET action = CAST('forged' AS BLOB) WHERE seq = {k}",
}
# The compiled verifier (spe.audit.native) and the Python reference, through every case.
VERIFIERS = [pytest.param(True, id="compiled"), pytest.param(False, id="python")]


def test_the_test_install_built_the_compiled_verifier():
    """Otherwise every "compiled" case below would fail rather than quietly test Python."""
    assert native.available(), "spe.audit._native was not built: see setup.py"


def tampered_copy(path, tmp_path, kind: str, k: int):
    copy = tmp_path / f"copy-{kind}-{k}.db"
    shutil.copy(path, copy)
    engine = make_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        for statement in DB_MUTATIONS[kind].format(k=k, k2=k // 2, j=k + 1).split("; "):
            conn.execute(text(statement))
    return engine


@pytest.mark.parametrize("compiled", VERIFIERS)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(DB_MUTATIONS)), st.integers(0, N - 2))
def test_any_change_to_the_database_names_the_first_bad_seq(log_db, tmp_path, compiled, kind,
                                                            k):
    path, signer = log_db
    engine = tampered_copy(path, tmp_path, kind, k)
    expected = (k // 2) * 2 if kind == "node" else k
    with Session(engine) as s:
        for shape in ({}, SMALL_CHUNKS):  # one chunk; chunks of 8 leaves, blocks of 4
            with pytest.raises(VerificationError) as caught:
                verify_database(s, signer.public_key, CUTOFF, workers=1, compiled=compiled,
                                **shape)
            assert caught.value.seq == expected, str(caught.value)
    engine.dispose()


def outcome(engine, public_key, **shape):
    """The report (with the verifier's name blanked) or the problem."""
    with Session(engine) as s:
        try:
            report = verify_database(s, public_key, CUTOFF, **shape)
        except VerificationError as exc:
            return exc.seq, exc.problem
    return dataclasses.replace(report, verifier="")


@pytest.mark.parametrize("kind", sorted(DB_MUTATIONS))
def test_both_verifiers_report_the_same_problem(log_db, tmp_path, kind):
    path, signer = log_db
    for k in (0, 7, 8, N - 2):
        engine = tampered_copy(path, tmp_path, kind, k)
        for shape in ({}, SMALL_CHUNKS):
            python = outcome(engine, signer.public_key, workers=1, compiled=False, **shape)
            assert outcome(engine, signer.public_key, workers=1, compiled=True, **shape) \
                == python, (kind, k, shape)
        engine.dispose()


@pytest.mark.parametrize("compiled", VERIFIERS)
@pytest.mark.parametrize("statement", [
    None,
    "UPDATE audit_event SET actor_id = 'someone-else' WHERE seq = 13",
    "UPDATE audit_node SET hash = zeroblob(32) WHERE level = 2 AND \"index\" = 5",
])
def test_workers_give_the_serial_result(log_db, tmp_path, statement, compiled):
    path, signer = log_db
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    engine = make_engine(f"sqlite:///{copy}")
    if statement:
        with engine.begin() as conn:
            conn.execute(text(statement))
    serial = outcome(engine, signer.public_key, workers=1, compiled=compiled)
    assert outcome(engine, signer.public_key, workers=2, compiled=compiled,
                   **SMALL_CHUNKS) == serial
    engine.dispose()
    if statement is None:
        assert serial.size == N and serial.checkpoints == 3
    else:
        assert serial[0] == (13 if "event" in statement else 20)


PG_MUTATIONS = [
    None,
    "UPDATE audit_event SET details = '{\"i\":-1}' WHERE seq = 7",
    "UPDATE audit_event SET ts = ts + interval '1 microsecond' WHERE seq = 3",
    "UPDATE audit_event SET target_type = NULL WHERE seq = 5",
    "UPDATE audit_leaf SET ts = ts - interval '1 day' WHERE seq = 9",
    "UPDATE audit_leaf SET leaf_hash = '\\x00' WHERE seq = 2",
    "DELETE FROM audit_event WHERE seq = 6",
    "DELETE FROM audit_leaf WHERE seq >= 8",
    "UPDATE audit_node SET hash = sha256('x') WHERE level = 1 AND \"index\" = 2",
    "DELETE FROM audit_node WHERE level = 2 AND \"index\" = 1",
    # the superuser changes column types: the compiled verifier reads what the server sends
    'ALTER TABLE audit_node ALTER COLUMN "index" TYPE integer',  # same values: verifies
    "ALTER TABLE audit_node ALTER COLUMN hash TYPE text USING encode(hash, 'escape')",
]


def test_postgres_logs_verify_and_tampering_is_named(pg_audit, signer):
    build_log(pg_audit.app, signer, 11, checkpoint_at=(4,))
    for shape in ({}, SMALL_CHUNKS):
        for compiled in (True, False):
            report = outcome(pg_audit.app, signer.public_key, workers=1, compiled=compiled,
                             **shape)
            assert (report.size, report.bodies, report.checkpoints) == (11, 11, 2)
    with pg_audit.admin.begin() as conn:  # the superuser switches the triggers off
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(PG_MUTATIONS[1]))
    for compiled in (True, False):
        assert outcome(pg_audit.app, signer.public_key, workers=1, compiled=compiled) == \
            (7, "body does not match the leaf's commitment")


@pytest.mark.parametrize("statement", PG_MUTATIONS)
def test_both_verifiers_agree_on_postgres(postgres_server, signer, statement):
    audit = make_pg_audit(postgres_server)
    try:
        build_log(audit.app, signer, 13, checkpoint_at=(5, 8))
        if statement:
            with audit.admin.begin() as conn:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text(statement))
        for shape in ({}, SMALL_CHUNKS):
            python = outcome(audit.app, signer.public_key, workers=1, compiled=False, **shape)
            assert outcome(audit.app, signer.public_key, workers=1, compiled=True, **shape) \
                == python
        intact = statement is None or "TYPE integer" in statement
        assert (python.size == 13) if intact else python[0] is not None
    finally:
        audit.app.dispose()
        audit.admin.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_log_of_many_chunks_verifies_alike(request, tmp_path, signer, backend):
    """5,000 events, checkpoints at odd sizes, chunks of 1,024 in two processes: both
    verifiers reach the same root as the log's own head."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'big.db'}")
        SQLModel.metadata.create_all(engine, tables=audit_tables())
    else:
        engine = request.getfixturevalue("pg_audit").app
    build_log(engine, signer, 5000, checkpoint_at=(1, 1023, 1024, 1025, 3001))
    shape = {"workers": 2, "chunk_level": 10, "block_level": 8}
    compiled = outcome(engine, signer.public_key, compiled=True, **shape)
    assert (compiled.size, compiled.bodies, compiled.checkpoints) == (5000, 5000, 6)
    assert outcome(engine, signer.public_key, compiled=False, **shape) == compiled
    with Session(engine) as s:
        assert compiled.root == cps.head(s)[1]


def test_purged_bodies_are_gaps_not_tampering(sqlite_engine, signer):
    old = utcnow() - timedelta(days=400)
    build_log(sqlite_engine, signer, 6, at=old)
    build_log(sqlite_engine, signer, 3)
    with Session(sqlite_engine) as s:
        assert purge(s, timedelta(days=366)) == 6
        s.commit()
        lines = list(export_lines(s))
    for compiled in (True, False):
        report = outcome(sqlite_engine, signer.public_key, compiled=compiled)
        assert (report.size, report.bodies, report.purged, report.gaps) == (9, 3, 6, [[0, 5]])
        assert "6 bodies purged past retention (gaps: 0..5)" in report.summary()
    assert verify_export(lines, signer.public_key, CUTOFF).purged == 6


COLUMNS = {"audit_leaf": ["seq", "version", "ts", "commitment", "leaf_hash"],
           "audit_event": ["seq", "ts", "actor_type", "actor_id", "actor_role", "action",
                           "target_type", "target_id", "project_id", "outcome", "request_id",
                           "trace_id", "client_addr", "details", "salt"],
           "audit_node": ["hash"]}
ANY_VALUE = st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False),
                      st.text(max_size=300), st.binary(max_size=300),
                      st.binary(min_size=32, max_size=32))


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([(t, c) for t, cs in COLUMNS.items() for c in cs]),
       st.integers(0, N - 1), ANY_VALUE)
def test_any_value_in_any_column_gets_the_same_verdict_from_both(log_db, tmp_path, where, k,
                                                                 value):
    """SQLite stores any type in any column: whatever an edit writes, the compiled verifier
    neither crashes nor differs from the Python reference."""
    table, column = where
    copy = tmp_path / f"any-{uuid.uuid4().hex}.db"
    shutil.copy(log_db[0], copy)
    with sqlite3.connect(copy) as conn:
        key = 'level = 1 AND "index" = :k' if table == "audit_node" else "seq = :k"
        try:
            conn.execute(f"UPDATE {table} SET {column} = :v WHERE {key}",  # noqa: S608
                         {"v": value, "k": k // 2 if table == "audit_node" else k})
        except sqlite3.IntegrityError:
            assume(False)  # NOT NULL or a duplicate key: SQLite itself refuses the edit
    engine = make_engine(f"sqlite:///{copy}")
    try:
        python = outcome(engine, log_db[1].public_key, workers=1, compiled=False)
        assert outcome(engine, log_db[1].public_key, workers=1, compiled=True) == python
    finally:
        engine.dispose()
