"""The embedded platform's files are its user's alone: the data folder, the keys folder and
every folder made under them 0700, the SQLite database and its journal 0600 — whatever the
umask (they were 0755 and 0644)."""

from __future__ import annotations

import os
import stat

import pytest
from fastapi.testclient import TestClient

from spe.fs import private_file, private_folder
from spe.web import create_app
from tests.fixtures.embedded import embedded


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_the_embedded_platform_is_private(tmp_path, open_umask):
    data = tmp_path / "home" / ".spe"
    with embedded(data) as (engine, settings):
        with TestClient(create_app(settings, engine)) as client:
            assert client.get("/healthz").status_code == 200
        engine.dispose()
    assert mode(data) == 0o700
    assert mode(data / "spe.db") == 0o600
    folders = [p for p in data.rglob("*") if p.is_dir()]
    files = [p for p in data.rglob("*") if p.is_file()]
    assert data / "keys" in folders and any(p.parent == data / "keys" for p in files)
    assert {str(p): oct(mode(p)) for p in folders if mode(p) != 0o700} == {}
    assert {str(p): oct(mode(p)) for p in files if mode(p) & 0o077} == {}


def test_an_older_data_folder_is_tightened(tmp_path, open_umask):
    data = tmp_path / ".spe"
    data.mkdir(mode=0o755)
    (data / "spe.db").touch(mode=0o644)
    with embedded(data) as (engine, _):
        engine.dispose()
    assert (mode(data), mode(data / "spe.db")) == (0o700, 0o600)


def test_helpers_make_missing_parents_private(tmp_path, open_umask):
    folder = private_folder(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == mode(folder) == 0o700
    assert mode(private_file(tmp_path / "c" / "f")) == 0o600
