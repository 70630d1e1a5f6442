"""The Alembic migrations build exactly the schema the models declare, on SQLite and
PostgreSQL: a model changed without its migration fails here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import spe.migrations.tables  # noqa: F401  (registers every table)
from spe import migrations
from spe.db import make_engine

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_migrations_build_the_models_schema(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []


def test_the_application_role_may_use_every_sequence(postgres_server):
    """Set up as docs/production.md says, the application role can draw every generated id
    (0002 granted the tables but not their sequences: creating a permit failed)."""
    database = postgres_server.create_production_database()
    owner = make_engine(database.owner_url)
    migrations.upgrade(owner, app_role=database.app_role)
    owner.dispose()
    app = make_engine(database.app_url)
    with app.connect() as conn:
        sequences = conn.execute(text(
            "SELECT sequencename, has_sequence_privilege(current_user, "
            "schemaname || '.' || sequencename, 'USAGE') FROM pg_sequences")).all()
        assert {"permit_revisions_id_seq", "permit_decisions_id_seq"} <= {s for s, _ in sequences}
        assert [s for s, usable in sequences if not usable] == []
        refused = conn.execute(text("SELECT has_table_privilege(current_user, 'audit_event', "
                                    "'UPDATE')")).scalar()
        assert refused is False
    app.dispose()


def test_revisions_written_before_0006_are_numbered(engine_url_for_upgrade):
    """Existing histories get their seq in the order they were written."""
    engine = make_engine(engine_url_for_upgrade)
    migrations.upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO permits (id, reference, issuer, purpose, project_title, "
            "principal_investigator, sdc_policy, workspace_profile, valid_from, valid_until, "
            "status, version, created_at, updated_at) VALUES ('p1', 'HDH-1', 'i', 'p', 't', "
            "'alice', 'snds', 'standard', :t, :t, 'granted', 1, :t, :t)"), {"t": NOW})
        for action in ("create", "suspend", "resume"):
            conn.execute(text(
                "INSERT INTO permit_revisions (permit_id, version, action, changed, snapshot, "
                "at) VALUES ('p1', 1, :a, '[]', '{}', :t)"), {"a": action, "t": NOW})
    migrations.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT action, seq FROM permit_revisions ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("create", 1), ("suspend", 2), ("resume", 3)]
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def engine_url_for_upgrade(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spe.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())


def table_rights(engine, role: str) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(text(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = :r AND table_name = 'audit_checkpoint'"), {"r": role})}


def test_a_signer_role_named_after_0008_ran_gets_its_grants_and_0008_undoes_them(
        postgres_server):
    """An upgrade to head grants the signer's role every time (a deployment that split it off
    later); going back below 0008 takes them away and gives the application role its
    checkpoints back."""
    database = postgres_server.create_production_database()
    owner = make_engine(database.owner_url)
    migrations.upgrade(owner, app_role=database.app_role)  # 0008 ran without a signer role
    assert table_rights(owner, database.signer_role) == set()
    assert ("audit_checkpoint", "INSERT") in table_rights(owner, database.app_role)
    migrations.upgrade(owner, app_role=database.app_role, signer_role=database.signer_role)
    assert table_rights(owner, database.signer_role) == {("audit_checkpoint", "SELECT"),
                                                         ("audit_checkpoint", "INSERT")}
    assert table_rights(owner, database.app_role) == {("audit_checkpoint", "SELECT")}
    config = migrations.alembic_config(database.owner_url)
    config.attributes |= {"app_role": database.app_role, "signer_role": database.signer_role}
    command.downgrade(config, "0007")
    assert table_rights(owner, database.signer_role) == set()
    assert ("audit_checkpoint", "INSERT") in table_rights(owner, database.app_role)
    owner.dispose()


def test_the_signer_role_may_be_neither_the_applications_nor_the_owners(postgres_server):
    database = postgres_server.create_production_database()
    owner = make_engine(database.owner_url)
    with pytest.raises(ValueError, match="must not be the application's"):
        migrations.upgrade(owner, app_role=database.app_role, signer_role=database.app_role)
    owner_role = database.owner_url.split("//")[1].split("@")[0]
    with pytest.raises(ValueError, match="is the tables' owner"):
        migrations.upgrade(owner, app_role=database.app_role, signer_role=owner_role)
    with pytest.raises(ValueError, match="plain PostgreSQL role name"):
        migrations.upgrade(owner, app_role=database.app_role, signer_role="x; DROP TABLE users")
    assert migrations.pending_migrations(owner) != []  # each refused before anything stayed
    owner.dispose()
