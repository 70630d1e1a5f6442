"""The engine's pool covers the API's worker threads, each of which may hold two connections
(its request's session and the one auditing a refusal): with 5 + 10 connections, 50 users
made requests wait 30 s for a connection and fail with 500 (benchmarks/load.py)."""

from __future__ import annotations

import threading
import time

import anyio
import anyio.to_thread
from sqlalchemy import text
from sqlmodel import Session

from spe.db import get_engine, make_engine
from spe.settings import get_settings


def test_the_pool_covers_two_connections_per_worker_thread(tmp_path, monkeypatch):
    workers = anyio.run(_limit)
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    assert engine.pool.size() + engine.pool._max_overflow >= 2 * workers
    monkeypatch.setenv("SPE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SPE_DATABASE_POOL_SIZE", "3")
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        assert get_engine().pool.size() == 3
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()


async def _limit() -> int:
    """The size of the threadpool Starlette runs sync routes and dependencies in."""
    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_sqlite_writers_queue_instead_of_failing(tmp_path, monkeypatch):
    """Threads that read, then write, at once: with SQLite's own busy handler cut to 50 ms,
    they used to fail with "database is locked"; queued on the engine's writer lock, every
    transaction commits."""
    import spe.db

    real = spe.db.create_engine

    def short_busy_timeout(url, connect_args, **kwargs):
        return real(url, connect_args={**connect_args, "timeout": 0.05}, **kwargs)

    monkeypatch.setattr(spe.db, "create_engine", short_busy_timeout)
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    errors = []

    def writer() -> None:
        for _ in range(20):
            try:
                with Session(engine) as session:
                    session.exec(text("SELECT count(*) FROM t")).one()
                    session.exec(text("INSERT INTO t VALUES (1)"))
                    time.sleep(0.002)  # work inside the write transaction
                    session.exec(text("UPDATE t SET n = n + 1 WHERE rowid = 1"))
                    session.commit()
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=writer) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 12 * 20
    engine.dispose()
