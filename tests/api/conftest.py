"""An API on each database backend: SQLite and the real PostgreSQL server.

Each test module gets a fresh database with the migrations applied; tests create their own
uniquely named data, so they do not depend on order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from spe.api.app import create_app
from spe.db import make_engine, migrations
from spe.domain.roles import Role
from spe.settings import Settings
from tests.factories import make_user


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request, tmp_path_factory) -> Iterator[Engine]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "spe.db"
        url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.url(server.create_database())
    engine = make_engine(url)
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def client(engine, settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(engine) -> dict[Role, str]:
    """One bearer token per role, each for a user holding only that role."""
    return {role: make_user(engine, role)[1] for role in Role}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
