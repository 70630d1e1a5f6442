"""Database engine and sessions.

SQLite (the embedded default) and PostgreSQL (production) behind one SQLAlchemy engine.
Sessions are short: one per request or job, one transaction per business operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from spe.fs import private_file, private_folder

UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
"""What SQLAlchemy raises when the database cannot serve (down, restarting, connections cut,
pool exhausted, a transaction to retry): the API answers 503 with Retry-After. Each pooled
connection is pinged before use, so the engine reconnects by itself once it is back."""
RETRY_AFTER_SECONDS = 5  # told to clients while it is unavailable


def make_engine(url: str, pool_size: int = 20, max_overflow: int = 60) -> Engine:
    """An engine whose pool covers the API's worker threads (40 by default), each of which
    may hold two connections at once (its request's session and the one that audits a
    refusal): a smaller pool made requests wait 30 s under load, then fail."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_file(Path(database))  # 0600 (SQLite gives its -wal and -shm the same)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=max_overflow)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size,
                         max_overflow=max_overflow)


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: the configured database)."""
    from spe.settings import get_settings

    settings = get_settings()
    if url is None:
        private_folder(settings.data_dir, tighten=True)
    return make_engine(url or settings.resolved_database_url, settings.database_pool_size,
                       settings.database_pool_overflow)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any exception."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
