"""The API under test (``engine``, ``settings`` and ``tokens`` come from tests/fixtures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spe.web import create_app


@pytest.fixture(scope="module")
def client(engine, settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as c:
        yield c
