"""The tamper suite (issue 13): every way we know to edit the audit tables, by someone who
can (the triggers switched off on PostgreSQL), is detected by what an auditor runs,
``spe audit verify --trusted-checkpoint KEPT --witness W`` with the age rule, on SQLite
and PostgreSQL, by both verifiers. The figures are in docs/reliability.md."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session

from spe.audit import Actor, draft
from spe.audit.log import append
from spe.audit.signer import create_checkpoint
from spe.audit.verify import VerificationError, verify_database
from spe.audit.witness import FolderWitness, WitnessError, witnessed
from spe.db.types import utcnow
from tests.audit import operator
from tests.audit.factories import build_log

CUTOFF = utcnow() - timedelta(days=366)
X = bytes(32)
T = "2020-01-01 00:00:00.000000"  # as SQLite stores times; PostgreSQL casts it


def sql(*statements: str, **params):
    def run(engine) -> None:
        with operator.superuser(engine) as conn:
            for statement in statements:
                conn.execute(text(statement), params)
    return run


def then_rebuild(action):
    def run(engine) -> None:
        action(engine)
        with operator.superuser(engine) as conn:
            operator.rebuild_tree(conn)
    return run


# The log: 15 events over the last two hours, checkpoints at 6, 12 and 15 (the last kept
# by the auditor), all witnessed. Each case: what the superuser does.
CASES = {
    "edit a body": sql("UPDATE audit_event SET action = 'forged' WHERE seq = 3"),
    "edit a body's time": sql("UPDATE audit_event SET ts = :t WHERE seq = 3", t=T),
    "edit a salt": sql("UPDATE audit_event SET salt = :x WHERE seq = 4", x=X),
    "edit a leaf's time": sql("UPDATE audit_leaf SET ts = :t WHERE seq = 4", t=T),
    "edit a commitment": sql("UPDATE audit_leaf SET commitment = :x WHERE seq = 5", x=X),
    "edit a leaf hash": sql("UPDATE audit_leaf SET leaf_hash = :x WHERE seq = 5", x=X),
    "edit a subtree hash": sql('UPDATE audit_node SET hash = :x WHERE level = 2 '
                               'AND "index" = 1', x=X),
    "edit the head": sql("UPDATE audit_head SET size = size - 1"),
    "edit a checkpoint": sql("UPDATE audit_checkpoint SET root_hash = :x "
                             "WHERE tree_size = 12", x=X),
    "delete an event": sql("DELETE FROM audit_event WHERE seq = 8",
                           "DELETE FROM audit_leaf WHERE seq = 8"),
    "delete a recent body": sql("DELETE FROM audit_event WHERE seq = 13"),
    "insert a body without leaf": sql(
        "INSERT INTO audit_event SELECT 99, ts, actor_type, actor_id, actor_role, action, "
        "target_type, target_id, project_id, outcome, request_id, trace_id, client_addr, "
        "details, salt FROM audit_event WHERE seq = 2"),
    "insert a leaf past the head": sql(
        "INSERT INTO audit_leaf SELECT 15, version, ts, commitment, leaf_hash FROM "
        "audit_leaf WHERE seq = 14"),
    "reorder two events": sql("UPDATE audit_leaf SET seq = -1 WHERE seq = 2",
                              "UPDATE audit_leaf SET seq = 2 WHERE seq = 3",
                              "UPDATE audit_leaf SET seq = 3 WHERE seq = -1"),
    "truncate": sql("DELETE FROM audit_event WHERE seq >= 10",
                    "DELETE FROM audit_leaf WHERE seq >= 10"),
    "truncate, recompute the head": lambda e: operator.cut_tail(e, 10),
    "cut the tail after a checkpoint, recompute": lambda e: operator.cut_tail(e, 12),
    "delete events inside, renumber, recompute": then_rebuild(sql(
        "DELETE FROM audit_event WHERE seq >= 12", "DELETE FROM audit_leaf WHERE seq = 7",
        "DELETE FROM audit_checkpoint WHERE tree_size > 6",
        "UPDATE audit_leaf SET seq = seq - 1 WHERE seq > 7")),
    "consistent rewrite of an old event": lambda e: operator.rewrite_event(e, 5, "nothing"),
    "consistent rewrite of the newest": lambda e: operator.rewrite_event(e, 14, "nothing"),
    "delete every checkpoint": operator.delete_checkpoints,
    "delete the latest checkpoint": sql("DELETE FROM audit_checkpoint WHERE tree_size = 15"),
}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request):
    if request.param == "sqlite":
        engine = request.getfixturevalue("sqlite_engine")
        return engine, engine
    audit = request.getfixturevalue("pg_audit")
    return audit.app, audit.admin


def audited_log(app, signer, folder):
    """The log of the module docstring; returns the checkpoint the auditor kept."""
    witness = FolderWitness(folder)
    build_log(app, signer, 12, checkpoint_at=(6,), at=utcnow() - timedelta(hours=2))
    with Session(app) as s:
        create_checkpoint(s, signer, witness=witness)  # publishes 12
        append(s, [draft(action="late.event", actor=Actor.system("tests"))] * 3,
               at=utcnow() - timedelta(hours=1))
        kept = create_checkpoint(s, signer, witness=witness)
        s.commit()
    return witness, kept


def audit(app, signer, witness, kept, compiled: bool):
    """What the auditor runs: every external checkpoint, the age rule."""
    external = [(kept, "trusted"),
                *((cp, "witnessed") for cp in witnessed(witness, signer.public_key))]
    with Session(app) as s:
        return verify_database(s, signer.public_key, CUTOFF, workers=1, compiled=compiled,
                               external=external, max_unsigned_age=timedelta(minutes=11))


def test_the_untouched_log_verifies(db, signer, tmp_path):
    app, _ = db
    witness, kept = audited_log(app, signer, tmp_path / "w")
    for compiled in (True, False):
        report = audit(app, signer, witness, kept, compiled)
        assert (report.size, report.checkpoints, report.external) == (15, 3, 3)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_tampering_is_detected(db, signer, tmp_path, case):
    app, admin = db
    witness, kept = audited_log(app, signer, tmp_path / "w")
    CASES[case](admin)
    for compiled in (True, False):
        with pytest.raises((VerificationError, WitnessError)):
            audit(app, signer, witness, kept, compiled)
