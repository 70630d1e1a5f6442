"""The console under TestClient: an app with a local object store, browsers that sign in
with a personal token (a cookie session, as a person's browser), and a project whose
request holds a flagged CSV and an image."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from spe.domain.roles import Role
from spe.storage.local import LocalObjectStore
from spe.web import create_app
from tests.audit.factories import running_signer
from testsupport.factories import auth, make_dataset, make_user, permit_body
from testsupport.platform import swap

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
FLAGGED_CSV = b"department,count\n971,3\n972,120\n973,0\n974,58\n"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid, tiny, grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def app(engine, settings, tmp_path_factory):
    with running_signer(engine, settings):
        app = create_app(settings, engine)
        swap(app, object_store=LocalObjectStore(tmp_path_factory.mktemp("objects")))
        yield app


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


class Browser:
    """A signed-in browser: a cookie session, HTML wanted, the CSRF token of its pages."""

    def __init__(self, app, token: str, language: str = "en") -> None:
        self.http = TestClient(app, raise_server_exceptions=False,
                               headers=HTML | {"Accept-Language": language})
        page = self.http.get("/auth/login")
        csrf = CSRF_FIELD.search(page.text).group(1)
        signed_in = self.http.post("/auth/token-login", data={"token": token, "csrf": csrf},
                                   follow_redirects=False)
        assert signed_in.status_code == 303, signed_in.text
        self.csrf = CSRF_FIELD.search(self.get("/").text).group(1)

    def get(self, path: str, **kwargs):
        return self.http.get(path, follow_redirects=False, **kwargs)

    def post(self, path: str, data: dict | None = None, csrf: bool = True):
        data = dict(data or {})
        if csrf:
            data["csrf"] = self.csrf
        return self.http.post(path, data=data, follow_redirects=False)


@dataclass
class World:
    project_id: str
    alice: str
    alice_token: str
    request: dict


@pytest.fixture(scope="module")
def world(engine, client, tokens) -> World:
    alice, alice_token = make_user(engine, Role.researcher)
    body = permit_body(make_dataset(engine), [alice])
    permit = client.post("/api/v1/permits", json=body,
                         headers=auth(tokens[Role.permit_manager])).json()
    request = submit(client, permit["project_id"], alice_token)
    return World(permit["project_id"], alice, alice_token, request)


def submit(client: TestClient, project_id: str, token: str) -> dict:
    response = client.post(
        f"/api/v1/projects/{project_id}/egress-requests", headers=auth(token),
        data={"title": "Overseas departments", "descriptions": ["Counts by department"]},
        files=[("files", ("counts.csv", FLAGGED_CSV, "text/csv")),
               ("files", ("figure.png", png(), "image/png"))])
    assert response.status_code == 201, response.text
    return response.json()
