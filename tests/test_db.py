"""The engine's pool covers the API's worker threads, each of which may hold two connections
(its request's session and the one auditing a refusal): with 5 + 10 connections, 50 users
made requests wait 30 s for a connection and fail with 500 (benchmarks/load.py)."""

from __future__ import annotations

import anyio
import anyio.to_thread

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
