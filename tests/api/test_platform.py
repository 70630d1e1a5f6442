"""The composition root: built once at start-up, its parts handed to routes; no request
builds a service or reads a key file."""

from __future__ import annotations

import builtins
import io
import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from controllers.controller import build
from spe import platform as root_module
from spe.platform import ApiPlatform
from spe.settings import Settings
from spe.web import create_app


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path)


@pytest.fixture
def client(settings) -> TestClient:
    with TestClient(create_app(settings, create_engine("sqlite://")),
                    raise_server_exceptions=False) as client:
        yield client


def test_anonymous_key_routes_read_no_key_file(client, settings, monkeypatch):
    keys = settings.keys.files
    published = client.get("/api/v1/egress/release-key").json()
    hub_keys = client.get("/oauth/jwks").json()
    opened: list[str] = []
    real_open = builtins.open  # io.open is the same function

    def counting(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, str | os.PathLike) else str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    keys.release_signing.unlink()  # gone after start-up: the root read it then
    keys.hub_oidc.unlink()
    for _ in range(3):
        assert client.get("/api/v1/egress/release-key").json() == published
        assert client.get("/oauth/jwks").json() == hub_keys
    assert not [path for path in opened if str(keys.directory) in path]
    assert not keys.release_signing.exists()  # nor made up again


def test_the_root_is_built_once_per_application(settings, monkeypatch):
    built: list[Settings] = []
    real = root_module.object_store

    def counting(settings):
        built.append(settings)
        return real(settings)

    monkeypatch.setattr(root_module, "object_store", counting)
    app = create_app(settings, create_engine("sqlite://"))
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            client.get("/api/v1/egress/release-key")
            client.get("/api/v1/projects/p-none/extract")  # a grant route: refused, 401
    assert built == [settings]
    assert isinstance(app.state.platform, ApiPlatform)
    assert app.state.engine is app.state.platform.engine


def test_the_api_root_holds_no_audit_signing_key(settings):
    root = ApiPlatform.build(settings, create_engine("sqlite://"))
    assert not settings.keys.files.audit_signing.exists()
    assert not settings.keys.files.pseudonymisation.exists()  # the controller's alone
    assert root.settings is settings


def test_the_embedded_server_shares_one_root_with_its_reconciler(settings):
    root = ApiPlatform.build(settings, create_engine("sqlite://"))
    reconciler = build(settings, root.engine, root).reconciler
    assert reconciler.data_plane.store is root.object_store
    assert reconciler.data_plane.keys is root.key_store
    assert reconciler.box is root.secret_box
    assert reconciler.data_plane.extract_dir is not None  # the local runtime's hand-off
    assert root.data_plane.extract_dir is None  # the API's own is untouched
