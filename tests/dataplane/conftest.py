"""The data plane on a migrated database (SQLite and PostgreSQL) with the demo loaded: users,
the synthetic SNDS-like sources in a local object store, the demo permit and its project."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from spe.dataplane import ProjectDataPlane
from spe.dataplane.config import object_store
from spe.demo import Demo, load_demo
from spe.settings import Settings


@pytest.fixture
def engine(fresh_engine) -> Engine:
    """A fresh database per test (:func:`tests.fixtures.database.fresh_engine`)."""
    return fresh_engine


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1:9")


@pytest.fixture
def demo(engine, settings) -> Demo:
    return load_demo(engine, object_store(settings))


@pytest.fixture
def plane(engine, settings, tmp_path) -> ProjectDataPlane:
    return ProjectDataPlane(engine, settings,
                            extract_dir=lambda project_id: tmp_path / "mnt" / project_id)
