"""Browser sessions: stored in the database, found by the hash of the cookie's random id.

:class:`~spe.auth.session_middleware.ServerSessionMiddleware` gives each request
``request.session``; :class:`DatabaseSessionStore` keeps it in ``web_sessions`` so every
replica of the control plane sees the same sessions. A signed-in session holds who, how they
signed in, whether a second factor was shown, and a CSRF token that cookie-authenticated
state-changing API calls must echo in ``X-CSRF-Token``. Logging out ends the session; a
deactivated person's sessions stop authenticating at their next request (the user is
checked on every one).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from sqlalchemy import JSON, Column, delete
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from spe.auth.session_middleware import regenerate_session
from spe.db import session_scope
from spe.db.types import UTCDateTime, utcnow
from spe.domain.principal import Principal
from spe.domain.users import User, roles_of
from spe.errors import Forbidden
from spe.messages import Message

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USER, VIA, MFA, CSRF = "user_id", "via", "mfa", "csrf"


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    key: str = Field(primary_key=True, max_length=64)  # SHA-256 of the cookie's id
    user_id: str | None = Field(default=None, foreign_key="users.id", index=True,
                                ondelete="CASCADE")
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class DatabaseSessionStore:
    """The session middleware's store (load, save, delete) over ``web_sessions``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, key: str) -> dict[str, Any] | None:
        with Session(self.engine) as session:
            row = session.get(WebSession, key)
            if row is None or row.expires_at <= utcnow():
                return None
            return dict(row.data)

    def save(self, key: str, data: dict[str, Any], ttl_seconds: int) -> None:
        with session_scope(self.engine) as session:
            row = session.get(WebSession, key) or WebSession(key=key)
            row.data, row.user_id = data, data.get(USER)
            row.expires_at = utcnow() + timedelta(seconds=ttl_seconds)
            session.add(row)
            session.exec(delete(WebSession).where(WebSession.expires_at <= utcnow()))

    def delete(self, key: str) -> None:
        with session_scope(self.engine) as session:
            session.exec(delete(WebSession).where(WebSession.key == key))


def open_session(request: Request, user: User, *, via: str, mfa: bool) -> None:
    """Sign ``user`` in on this browser, under a new session id (no fixation)."""
    keep = {k: v for k, v in request.session.items() if k.startswith("oidc.")}
    request.session.clear()
    request.session.update(keep | {USER: user.id, VIA: via, MFA: mfa,
                                   CSRF: secrets.token_urlsafe(24)})
    regenerate_session(request)


def close_session(request: Request) -> None:
    request.session.clear()


def session_cookie(request: Request, session: Session) -> Principal | None:
    """Authenticator: the browser's session, with CSRF checked on state-changing calls."""
    data = request.scope.get("session") or {}
    user = session.get(User, data[USER]) if data.get(USER) else None
    if user is None or not user.active:
        return None
    unsafe = request.method not in SAFE_METHODS and request.url.path.startswith("/api/")
    if unsafe and not hmac.compare_digest(request.headers.get("x-csrf-token", ""),
                                          data.get(CSRF, "")):
        raise Forbidden(Message("missing or wrong X-CSRF-Token for a cookie-authenticated "
                                "request"), code="auth.csrf")
    return Principal(user_id=user.id, subject=user.subject,
                     roles=frozenset(roles_of(session, user.id)),
                     via=f"session:{data.get(VIA)}", mfa=bool(data.get(MFA)))
