"""The PostgreSQL server of the test run (:mod:`testsupport.postgres`): started once, only
when a test asks for it, and always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testsupport.postgres import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server
