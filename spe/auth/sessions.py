"""Browser sessions, kept server-side.

The cookie (Starlette's signed session cookie: HttpOnly, SameSite=Lax, Secure when
configured) carries only a random session id; the session itself — who, how they signed in,
whether a second factor was shown, when it ends — is a row here, so logging out or
deactivating a person ends their sessions at once. A state-changing API request
authenticated by the cookie must echo the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from spe.auth.principal import Principal
from spe.db.types import UTCDateTime, utcnow
from spe.domain.users import User, roles_of
from spe.errors import Forbidden

SESSION_KEY = "sid"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    via: str = Field(max_length=20)  # "oidc", "token"
    mfa: bool = False
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(session: Session, request: Request, user: User, *, via: str, mfa: bool,
                 lifetime: timedelta) -> WebSession:
    """Start a session for ``user`` and point the browser's cookie at it."""
    close_session(session, request)
    session_id = secrets.token_urlsafe(32)
    web = WebSession(id_hash=_hash(session_id), user_id=user.id, via=via, mfa=mfa,
                     csrf_token=secrets.token_urlsafe(24), expires_at=utcnow() + lifetime)
    session.add(web)
    request.session[SESSION_KEY] = session_id
    return web


def close_session(session: Session, request: Request) -> None:
    session_id = request.session.pop(SESSION_KEY, None)
    if session_id:
        web = session.get(WebSession, _hash(session_id))
        if web is not None:
            session.delete(web)


def current_session(session: Session, request: Request) -> WebSession | None:
    if "session" not in request.scope:
        return None
    session_id = request.session.get(SESSION_KEY)
    if not session_id:
        return None
    web = session.get(WebSession, _hash(session_id))
    if web is None or web.expires_at <= utcnow():
        return None
    return web


def end_user_sessions(session: Session, user_id: str) -> int:
    rows = session.exec(select(WebSession).where(WebSession.user_id == user_id)).all()
    for web in rows:
        session.delete(web)
    return len(rows)


def session_cookie(request: Request, session: Session) -> Principal | None:
    """Authenticator: the browser's session, with CSRF checked on state-changing calls."""
    web = current_session(session, request)
    if web is None:
        return None
    user = session.get(User, web.user_id)
    if user is None or not user.active:
        return None
    if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, web.csrf_token):
            raise Forbidden("missing or wrong X-CSRF-Token for a cookie-authenticated "
                            "request", code="auth.csrf")
    return Principal(user_id=user.id, subject=user.subject,
                     roles=frozenset(roles_of(session, user.id)), via=f"session:{web.via}",
                     mfa=web.mfa)
