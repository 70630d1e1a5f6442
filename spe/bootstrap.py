"""Operations the operator runs on the control plane host, straight on the database.

Creating the first tokens cannot go through the API (nobody holds a token yet), so these
act as the platform itself: the operator's shell access is the credential. Each one is
audited like any other change.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from spe.audit import Actor
from spe.auth.tokens import ApiToken, issue_token, revoke_token
from spe.db import get_engine, session_scope
from spe.domain.roles import Role
from spe.domain.users import (
    RoleGrant,
    User,
    UserCreate,
    create_user,
    find_by_subject,
    grant_role,
)
from spe.errors import Conflict, InvalidInput
from spe.messages import Message
from spe.migrations import pending_migrations, upgrade

CLI = Actor.system("cli")


def create_token(subject: str, role: Role | None, ttl: timedelta,
                 description: str = "") -> tuple[str, ApiToken]:
    """A token for ``subject``, creating the user and granting ``role`` when needed."""
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        upgrade(engine)  # the embedded default migrates itself
    elif pending_migrations(engine):
        raise Conflict(Message("the database schema is not current: run `spe db upgrade` first"),
                       code="db.migrations_pending")
    with session_scope(engine) as session:
        user = find_by_subject(session, subject)
        if user is None:
            if role is None:
                raise InvalidInput(Message("no user {subject!r}: give --role to create them",
                                           subject=subject))
            user = create_user(session, UserCreate(subject=subject, roles=[role]), actor=CLI)
        elif role is not None and session.get(RoleGrant, (user.id, role, "local")) is None:
            grant_role(session, user.id, role, actor=CLI)
        token, secret = issue_token(session, ttl=ttl, actor=CLI, user_id=user.id,
                                    description=description or "created with spe token create",
                                    mfa=True)
    return secret, token


def revoke(token_id: str) -> None:
    with session_scope() as session:
        revoke_token(session, token_id, actor=CLI)


def list_tokens(subject: str | None = None) -> list[tuple[ApiToken, str]]:
    with session_scope() as session:
        query = (select(ApiToken, User.subject).join(User, User.id == ApiToken.user_id,
                                                     isouter=True)
                 .order_by(ApiToken.created_at))
        if subject:
            query = query.where(User.subject == subject)
        return [(token, owner or f"component:{token.component}")
                for token, owner in session.exec(query)]
