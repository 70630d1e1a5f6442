"""Server-side browser sessions: the cookie holds only a random id.

:class:`ServerSessionMiddleware` gives every request ``request.session`` (the dict Starlette's
own ``SessionMiddleware`` would give), loaded from a :class:`SessionStore` under the SHA-256
of the cookie's id, so a copy of the store yields no usable cookie. The login flow keeps its
state, nonce and PKCE verifier there, never in the browser.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (not sent on cross-site
sub-requests or POSTs, but sent on the provider's top-level redirect back to the callback),
``Path=/`` and ``Secure`` unless turned off for plain-HTTP loopback development. Sessions
last ``max_age_seconds`` from their last change (the login); :func:`regenerate_session`
gives a fresh id at login (no session fixation). :class:`MemorySessionStore` serves one
process; several replicas need a shared store (the database) behind the same three methods.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any, Protocol

import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spe.db import RETRY_AFTER_SECONDS, UNAVAILABLE

REGENERATE = "spe.session.regenerate"


class SessionStore(Protocol):
    def load(self, key: str) -> dict[str, Any] | None: ...
    def save(self, key: str, data: dict[str, Any], ttl_seconds: int) -> None: ...
    def delete(self, key: str) -> None: ...


class MemorySessionStore:
    """Sessions in this process's memory, expired lazily."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, str]] = {}

    def load(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._data[key]
                return None
            return json.loads(entry[1])

    def save(self, key: str, data: dict[str, Any], ttl_seconds: int) -> None:
        with self._lock:
            self._data[key] = (self._clock() + ttl_seconds, json.dumps(data))

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


def regenerate_session(request: Request) -> None:
    """Move this session to a new id when the response is sent (call it at login)."""
    request.scope[REGENERATE] = True


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class ServerSessionMiddleware:
    def __init__(self, app: ASGIApp, store: SessionStore, *, cookie_name: str = "spe_session",
                 secure: bool = True, max_age_seconds: int = 8 * 3600) -> None:
        self.app = app
        self.store = store
        self.cookie_name = cookie_name
        self.secure = secure
        self.max_age_seconds = max_age_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session_id = HTTPConnection(scope).cookies.get(self.cookie_name)
        try:
            data = await anyio.to_thread.run_sync(self.store.load, _key(session_id)) \
                if session_id else None
        except UNAVAILABLE:  # outside the routes' error handlers: answer as they would
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})  # try again later
            else:
                await database_unavailable()(scope, receive, send)
            return
        if data is None:
            session_id = None
        scope["session"] = data or {}
        loaded = json.dumps(data, sort_keys=True) if data else None

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._persist(scope, session_id, loaded, MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _persist(self, scope: Scope, session_id: str | None, loaded: str | None,
                       headers: MutableHeaders) -> None:
        session = scope["session"]
        if session_id is not None and (scope.get(REGENERATE) or not session):
            await anyio.to_thread.run_sync(self.store.delete, _key(session_id))
            if not session:
                headers.append("set-cookie", self._cookie("", 0))
                return
            session_id = None
        if not session:
            return
        current = json.dumps(session, sort_keys=True)
        if session_id is None:
            session_id = secrets.token_urlsafe(32)
            headers.append("set-cookie", self._cookie(session_id, self.max_age_seconds))
        elif current == loaded:
            return
        await anyio.to_thread.run_sync(self.store.save, _key(session_id), session,
                                       self.max_age_seconds)

    def _cookie(self, value: str, max_age: int) -> str:
        cookie = SimpleCookie()
        cookie[self.cookie_name] = value
        morsel = cookie[self.cookie_name]
        morsel["path"] = "/"
        morsel["max-age"] = max_age
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        morsel["secure"] = self.secure
        return morsel.OutputString()


def database_unavailable() -> JSONResponse:
    """What the API answers while the database is unavailable (see spe.api.app)."""
    return JSONResponse({"error": {"code": "database.unavailable",
                                   "message": "the database is unavailable; retry shortly"}},
                        503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
