"""Settings read from a controlled environment: no ``SPE_*`` variable of the test run leaks."""

import os

import pytest

PRODUCTION = {"environment": "production", "secure_cookies": True,
              "database_url": "postgresql+psycopg://spe@db/spe"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("SPE_")]:
        monkeypatch.delenv(name)
    return monkeypatch
