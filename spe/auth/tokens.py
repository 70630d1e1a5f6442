"""Personal API tokens: bearer secrets for the CLI, automation and workspaces.

A token is ``spe_`` followed by 32 random bytes (base64url). It is shown once; only its
SHA-256 is stored (a high-entropy secret needs no slow hash). Tokens expire, can be revoked,
and can be narrowed to one project (workspace egress tokens) or issued to a component
(a project hub's service token).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from spe.audit import Actor, record
from spe.db.types import UTCDateTime, utcnow
from spe.errors import Conflict, NotFound
from spe.messages import Message

PREFIX = "spe_"


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16], primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    user_id: str | None = Field(default=None, foreign_key="users.id", index=True,
                                ondelete="CASCADE")
    component: str | None = Field(default=None, max_length=40)
    project_id: str | None = Field(default=None, max_length=20)
    description: str = Field(default="", max_length=200)
    mfa: bool = Field(default=False, description="Issued to a person whose MFA was verified "
                      "(through an MFA session, or by the operator on the command line).")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ApiTokenPublic(SQLModel):
    id: str
    user_id: str | None
    component: str | None
    project_id: str | None
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The bearer secret, shown this once.")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, *, ttl: timedelta, actor: Actor, user_id: str | None = None,
                component: str | None = None, project_id: str | None = None,
                description: str = "", mfa: bool = False) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret (never stored)."""
    if (user_id is None) == (component is None):
        raise ValueError(Message("a token belongs to exactly one user or one component"))
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(token_hash=hash_token(secret), user_id=user_id, component=component,
                     project_id=project_id, description=description, mfa=mfa,
                     expires_at=utcnow() + ttl)
    session.add(token)
    session.flush()
    record(session, action="token.create", actor=actor, target_type="token",
           target_id=token.id, project_id=project_id,
           details={"user_id": user_id, "component": component,
                    "expires_at": token.expires_at.isoformat()})
    return token, secret


def find_valid(session: Session, secret: str, now: datetime | None = None) -> ApiToken | None:
    """The live token for ``secret``: known, not revoked, not expired."""
    if not secret.startswith(PREFIX):
        return None
    now = now or utcnow()
    token = session.exec(select(ApiToken)
                         .where(ApiToken.token_hash == hash_token(secret))).first()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    return token


def revoke_token(session: Session, token_id: str, *, actor: Actor,
                 owner_id: str | None = None) -> ApiToken:
    """Revoke a token (only the owner's, when ``owner_id`` is given)."""
    token = session.get(ApiToken, token_id)
    if token is None or (owner_id is not None and token.user_id != owner_id):
        raise NotFound(Message("no token {token_id!r}", token_id=token_id), code="token.not_found")
    if token.revoked_at is not None:
        raise Conflict(Message("token already revoked"), code="token.revoked")
    token.revoked_at = utcnow()
    session.add(token)
    record(session, action="token.revoke", actor=actor, target_type="token",
           target_id=token.id, project_id=token.project_id)
    return token


def revoke_component_tokens(session: Session, component: str, project_id: str, *,
                            actor: Actor) -> int:
    """Revoke every live token of a component for a project (e.g. a hub torn down)."""
    tokens = session.exec(select(ApiToken).where(ApiToken.component == component,
                                                 ApiToken.project_id == project_id,
                                                 ApiToken.revoked_at.is_(None))).all()
    for token in tokens:
        revoke_token(session, token.id, actor=actor)
    return len(tokens)
