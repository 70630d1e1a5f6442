"""The API under test (``engine``, ``settings`` and ``tokens`` come from tests/fixtures)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from spe.web import create_app
from tests.audit.factories import running_signer


@pytest.fixture(scope="module")
def client(engine, settings) -> Iterator[TestClient]:
    with running_signer(engine, settings), \
            TestClient(create_app(settings, engine), raise_server_exceptions=False) as c:
        yield c
