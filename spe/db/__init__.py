"""Database engine and sessions.

SQLite (the embedded default) and PostgreSQL (production) behind one SQLAlchemy engine.
Sessions are short: one per request or job, one transaction per business operation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
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
        on_disk = bool(database) and database != ":memory:" and not database.startswith("file:")
        if on_disk:
            private_file(Path(database))  # 0600 (SQLite gives its -wal and -shm the same)
        pool = {"pool_size": pool_size, "max_overflow": max_overflow} if on_disk else {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **pool)
        _one_writer_at_a_time(engine)

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


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
WRITER_WAIT_SECONDS = 30.0


def _one_writer_at_a_time(engine: Engine) -> None:
    """Queue this process's SQLite writers on a lock instead of SQLite's busy handler.

    SQLite lets one transaction write at a time; the others poll, sleeping up to 100 ms
    between tries, and under load some lost every try for 30 s and failed with "database
    is locked" (50 virtual users, benchmarks/load.py). A connection takes the lock before
    its transaction's first write and gives it back when the transaction ends; a thread
    that already holds it (a nested session auditing a refusal) takes it again. Other
    processes (the CLI) still meet SQLite's own busy timeout.
    """
    lock = threading.RLock()

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn, _cursor, statement, _params, _context, _many) -> None:
        if conn.info.get("writer") or not statement.lstrip().upper().startswith(WRITES):
            return
        if not lock.acquire(timeout=WRITER_WAIT_SECONDS):
            raise OperationalError(statement, None, Exception("database is locked (waited "
                                                              f"{WRITER_WAIT_SECONDS:.0f} s)"))
        conn.info["writer"] = True

    def _give_back(conn) -> None:
        try:
            info = conn.info
        except NotImplementedError:  # the pool's own reset: the "reset" listener below
            return
        if info.pop("writer", False):
            lock.release()

    def after(end):
        def ended(connection) -> None:  # given back once the COMMIT or ROLLBACK is done
            try:
                end(connection)
            finally:
                _give_back(connection)
        return ended

    dialect = engine.dialect
    dialect.do_commit = after(dialect.do_commit)
    dialect.do_rollback = after(dialect.do_rollback)

    @event.listens_for(engine.pool, "reset")
    def _returned(_dbapi_conn, record, _state) -> None:  # closed without commit or rollback
        _give_back(record)


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default: the configured database)."""
    from spe.settings import get_settings

    settings = get_settings()
    if url is None:
        private_folder(settings.data_dir, tighten=True)
    database = settings.database
    return make_engine(url or database.url, database.pool_size, database.pool_overflow)


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
