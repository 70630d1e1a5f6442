"""The data plane's tests: a fresh migrated database per test (SQLite and PostgreSQL) and
settings of their own, under the shared ``demo`` and ``plane`` (tests/fixtures/dataplane.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from spe.settings import Settings


@pytest.fixture
def engine(fresh_engine) -> Engine:
    """A fresh database per test (:func:`tests.fixtures.database.fresh_engine`)."""
    return fresh_engine


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1:9")
