"""Append-only enforcement on the real PostgreSQL server: the app role cannot rewrite the
log, the owner cannot either, and only bodies past retention can be purged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from spe.audit import Actor, draft, record
from spe.audit.log import append
from spe.audit.models import AuditEvent, AuditLeaf
from spe.audit.schema import postgres_ddl
from spe.audit.service import purge
from spe.db.types import utcnow

OLD = utcnow() - timedelta(days=400)


def seed(engine) -> None:
    with Session(engine) as s:
        append(s, [draft(action="old.event", actor=Actor.system("tests"))], at=OLD)
        record(s, action="new.event", actor=Actor.system("tests"))
        s.commit()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'forged.action' WHERE seq = 1",
    "DELETE FROM audit_event WHERE seq = 0",
    "UPDATE audit_leaf SET leaf_hash = leaf_hash WHERE seq = 0",
    "DELETE FROM audit_leaf",
    "DELETE FROM audit_node",
    "TRUNCATE audit_event",
    "DELETE FROM audit_checkpoint",
])
def test_the_app_role_cannot_change_or_delete(pg_audit, statement):
    seed(pg_audit.app)
    with pg_audit.app.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.execute(text(statement))


@pytest.mark.parametrize(("statement", "message"), [
    ("UPDATE audit_event SET action = 'forged.action' WHERE seq = 0", "UPDATE refused"),
    ("DELETE FROM audit_event WHERE seq = 1", "DELETE refused"),
    ("UPDATE audit_leaf SET ts = ts WHERE seq = 0", "append-only: UPDATE on audit_leaf"),
    ("DELETE FROM audit_leaf WHERE seq = 0", "append-only: DELETE on audit_leaf"),
    ("TRUNCATE audit_leaf", "append-only: TRUNCATE"),
])
def test_even_the_owner_is_refused_by_the_triggers(pg_audit, statement, message):
    seed(pg_audit.app)
    with pg_audit.admin.connect() as conn, pytest.raises(DBAPIError, match=message):
        conn.execute(text(statement))


def test_purge_deletes_only_bodies_past_retention(pg_audit):
    seed(pg_audit.app)
    with Session(pg_audit.app) as s, pytest.raises(DBAPIError, match="permission denied"):
        purge(s, timedelta(days=366))
    with Session(pg_audit.admin) as s:
        assert purge(s, timedelta(days=366)) == 1
        s.commit()
        assert list(s.exec(select(AuditEvent.seq))) == [1]
        assert list(s.exec(select(AuditLeaf.seq).order_by(AuditLeaf.seq))) == [0, 1]
    with pg_audit.admin.connect() as conn, pytest.raises(DBAPIError, match="DELETE refused"):
        conn.execute(text("DELETE FROM audit_event"))  # a purge that ignores retention


def test_the_app_role_still_appends(pg_audit):
    seed(pg_audit.app)
    with Session(pg_audit.app) as s:
        event = record(s, action="still.works", actor=Actor.system("tests"))
        s.commit()
    assert event.seq == 2


def test_ddl_refuses_bad_input():
    with pytest.raises(ValueError, match="role name"):
        postgres_ddl("app; DROP TABLE audit_leaf")
    with pytest.raises(ValueError, match="at least 366"):
        postgres_ddl("app", min_retention_days=30)
