"""Alembic migrations, run programmatically (``spe db upgrade``; the embedded server runs
them on start). Revisions live in ``versions/``; ``env.py`` reads the target metadata from
every model package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from spe.migrations.grants import grant_signer

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head", app_role: str | None = None,
            signer_role: str | None = None) -> None:
    """Migrate ``engine``'s database (as its owner). On PostgreSQL, ``app_role`` is the role
    the application will run as: it gets the platform's tables but only INSERT and SELECT
    on the audit log. ``signer_role`` is the checkpoint signer's: SELECT on the audit
    tables and INSERT on checkpoints, nothing else; with it, the application role no longer
    adds checkpoints (migration 0008, :mod:`spe.migrations.grants`)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    config.attributes["app_role"] = app_role
    config.attributes["signer_role"] = signer_role
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if revision == "head":
            grant_signer(connection, config.attributes)


def pending_migrations(engine: Engine) -> list[str]:
    """Revisions between the database's current one and head (empty when current)."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    heads = set(script.get_heads())
    if set(current) == heads:
        return []
    pending = []
    for rev in script.walk_revisions():
        if rev.revision in current:
            break
        pending.append(rev.revision)
    return pending
