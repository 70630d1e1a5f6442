"""Alembic environment: migrations run on the connection handed over by
:func:`spe.migrations.upgrade`, or on a fresh engine for the alembic CLI."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import spe.migrations.tables  # noqa: F401  (registers every table)

config = context.config
target_metadata = SQLModel.metadata


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        run(conn)
