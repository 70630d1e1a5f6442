"""Audit test databases: a fresh SQLite file per test, and PostgreSQL databases on the real
server whose audit tables are owned by the superuser and used through a plain app role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import spe.audit.models  # noqa: F401  (registers the audit tables)
from spe.audit.schema import postgres_ddl
from spe.crypto.signing import SigningKey
from spe.db import make_engine


@dataclass
class PgAudit:
    admin: Engine  # owner of the tables, runs the purge
    app: Engine  # the application's role: INSERT and SELECT only
    role: str


def audit_tables():
    return [t for name, t in SQLModel.metadata.tables.items() if name.startswith("audit_")]


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    yield engine
    engine.dispose()


def make_pg_audit(server) -> PgAudit:
    database = server.create_database("audit")
    role = f"app_{uuid.uuid4().hex[:8]}"
    server.admin(f"CREATE ROLE {role} LOGIN")
    admin = make_engine(server.url(database))
    SQLModel.metadata.create_all(admin, tables=audit_tables())
    with admin.begin() as conn:
        for statement in postgres_ddl(role):
            conn.execute(text(statement))
    return PgAudit(admin=admin, app=make_engine(server.url(database, user=role)), role=role)


@pytest.fixture
def pg_audit(postgres_server) -> Iterator[PgAudit]:
    audit = make_pg_audit(postgres_server)
    yield audit
    audit.app.dispose()
    audit.admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request) -> Engine:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")
    return request.getfixturevalue("pg_audit").app


@pytest.fixture(scope="session")
def signer(tmp_path_factory) -> SigningKey:
    return SigningKey.load_or_create(tmp_path_factory.mktemp("keys") / "audit.pem")
