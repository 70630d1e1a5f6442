"""The Alembic migrations build exactly the schema the models declare, on SQLite and
PostgreSQL: a model changed without its migration fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import spe.models  # noqa: F401  (registers every table)


def test_the_migrations_build_the_models_schema(engine):
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []
