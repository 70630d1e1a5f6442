"""Server-side sessions: the cookie holds only an id, with the right flags."""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from spe.auth.session_middleware import (
    MemorySessionStore,
    ServerSessionMiddleware,
    regenerate_session,
)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def make_client(store: MemorySessionStore, *, secure: bool = False) -> TestClient:
    app = FastAPI()
    app.add_middleware(ServerSessionMiddleware, store=store, secure=secure,
                       max_age_seconds=60)

    @app.post("/put/{value}")
    def put(value: str, request: Request) -> dict:
        request.session["value"] = value
        return {}

    @app.post("/login")
    def login(request: Request) -> dict:
        request.session["user"] = "alice"
        regenerate_session(request)
        return {}

    @app.post("/clear")
    def clear(request: Request) -> dict:
        request.session.clear()
        return {}

    @app.get("/get")
    def get(request: Request) -> dict:
        return dict(request.session)

    return TestClient(app)


def morsel(response):
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie["spe_session"]


def test_the_cookie_holds_a_random_id_and_the_data_stays_on_the_server():
    store = MemorySessionStore()
    client = make_client(store)
    response = client.post("/put/secret-nonce")
    session_id = morsel(response).value
    assert "secret-nonce" not in response.headers["set-cookie"]
    assert len(session_id) >= 43
    assert store.load(hashlib.sha256(session_id.encode()).hexdigest()) == \
        {"value": "secret-nonce"}
    assert store.load(session_id) is None  # stored under its hash only
    assert client.get("/get").json() == {"value": "secret-nonce"}


def test_cookie_flags():
    lax = morsel(make_client(MemorySessionStore()).post("/put/x"))
    assert lax["httponly"] and lax["samesite"] == "Lax" and lax["path"] == "/"
    assert lax["max-age"] == "60" and not lax["secure"]
    assert morsel(make_client(MemorySessionStore(), secure=True).post("/put/x"))["secure"]


def test_no_cookie_for_an_empty_session_and_none_sent_back_unchanged():
    client = make_client(MemorySessionStore())
    assert "set-cookie" not in client.get("/get").headers
    client.post("/put/x")
    assert "set-cookie" not in client.get("/get").headers


def test_login_moves_the_session_to_a_new_id():
    store = MemorySessionStore()
    client = make_client(store)
    client.post("/put/x")
    before = client.cookies["spe_session"]
    client.post("/login")
    after = client.cookies["spe_session"]
    assert after != before
    assert store.load(hashlib.sha256(before.encode()).hexdigest()) is None
    assert client.get("/get").json() == {"value": "x", "user": "alice"}


def test_clearing_deletes_the_session_and_expires_the_cookie():
    store = MemorySessionStore()
    client = make_client(store)
    client.post("/put/x")
    session_id = client.cookies["spe_session"]
    cleared = client.post("/clear")
    assert morsel(cleared)["max-age"] == "0"
    assert store.load(hashlib.sha256(session_id.encode()).hexdigest()) is None


def test_an_unknown_or_expired_id_is_a_fresh_empty_session():
    clock = Clock()
    client = make_client(MemorySessionStore(clock=clock))
    client.cookies.set("spe_session", "made-up")
    assert client.get("/get").json() == {}
    client.cookies.clear()
    client.post("/put/x")
    clock.now += 61
    assert client.get("/get").json() == {}
