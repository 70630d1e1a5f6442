"""Turning a request's credentials into a :class:`Principal`.

Authenticators are tried in order; each looks at the request and returns a principal, or
``None`` when the credential is not of its kind. Personal tokens come first; the identity
provider's access tokens and browser sessions plug in beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import Request
from sqlmodel import Session, update

from spe.auth.tokens import PREFIX, ApiToken, find_valid
from spe.db import session_scope
from spe.db.types import utcnow
from spe.domain.principal import Principal
from spe.domain.users import User, roles_of
from spe.errors import Unauthenticated
from spe.messages import Message

TOUCH_INTERVAL = timedelta(minutes=1)
Authenticator = Callable[[Request, Session], Principal | None]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def personal_token(request: Request, session: Session) -> Principal | None:
    secret = bearer_token(request)
    if secret is None or not secret.startswith(PREFIX):
        return None
    token = find_valid(session, secret)
    if token is None:
        raise Unauthenticated(Message("token unknown, expired or revoked"),
                              code="auth.invalid_token")
    _touch(request, token)
    if token.component is not None:
        return Principal(user_id=None, subject=f"component:{token.component}",
                         roles=frozenset(), via="component", component=token.component,
                         project_id=token.project_id)
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthenticated(Message("the token's user is deactivated"), code="auth.user_inactive")
    return Principal(user_id=user.id, subject=user.subject,
                     roles=frozenset(roles_of(session, user.id)), via="token", mfa=token.mfa,
                     project_id=token.project_id)


def _touch(request: Request, token: ApiToken) -> None:
    """Record when a token was last used, at most once a minute, outside the request's
    transaction (which stays read-only until the business operation writes)."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_INTERVAL:
        return
    with session_scope(request.app.state.engine) as session:
        session.exec(update(ApiToken).where(ApiToken.id == token.id)
                     .values(last_used_at=now))


def authenticate(request: Request, session: Session) -> Principal:
    for authenticator in request.app.state.authenticators:
        principal = authenticator(request, session)
        if principal is not None:
            return principal
    if bearer_token(request) is not None:
        raise Unauthenticated(Message("unrecognised bearer token"), code="auth.invalid_token")
    raise Unauthenticated(Message("authentication required"), code="auth.required")
