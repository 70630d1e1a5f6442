"""People: a stable subject id, a display name, and the roles granted to them.

Roles come from two sources: local grants by an admin, and the identity provider's group
claim mapped through configuration (``source="idp"``, refreshed at each login). The effective
roles are the union.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import EmailStr, StrictBool, StringConstraints, field_validator
from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from spe.audit import Actor, record
from spe.db.types import UTCDateTime, utcnow
from spe.domain.roles import Role
from spe.errors import Conflict, InvalidInput, NotFound
from spe.messages import Message

SUBJECT_PATTERN = r"^[A-Za-z0-9._@+:|-]{1,200}$"
Subject = Annotated[str, StringConstraints(pattern=SUBJECT_PATTERN)]


class UserBase(SQLModel):
    display_name: str = Field(default="", max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320)


class UserCreate(UserBase):
    subject: Subject = Field(description="Stable identifier at the "
                         "identity provider (or a local username).")
    roles: list[Role] = Field(default_factory=list)


class UserUpdate(SQLModel):
    display_name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None
    active: StrictBool | None = None  # {"active": 0} is not a deactivation


class User(UserBase, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    subject: str = Field(index=True, unique=True, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grants"

    user_id: str = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    role: Role = Field(primary_key=True)
    source: str = Field(default="local", primary_key=True, max_length=20)
    granted_by: str | None = Field(default=None, max_length=64)
    granted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


class UserPublic(UserBase):
    id: str
    subject: str
    active: bool
    roles: list[Role]
    created_at: datetime

    @field_validator("roles")
    @classmethod
    def _sorted(cls, roles: list[Role]) -> list[Role]:
        return sorted(set(roles))


def roles_of(session: Session, user_id: str) -> set[Role]:
    rows = session.exec(select(RoleGrant.role).where(RoleGrant.user_id == user_id))
    return {Role(r) for r in rows}


def to_public(session: Session, user: User) -> UserPublic:
    return UserPublic(**user.model_dump(), roles=sorted(roles_of(session, user.id)))


def get_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(Message("no user {user_id!r}", user_id=user_id), code="user.not_found")
    return user


def find_by_subject(session: Session, subject: str) -> User | None:
    return session.exec(select(User).where(User.subject == subject)).first()


def create_user(session: Session, data: UserCreate, *, actor: Actor) -> User:
    if find_by_subject(session, data.subject) is not None:
        raise Conflict(Message("a user with subject {subject!r} exists", subject=data.subject),
                       code="user.exists")
    user = User(subject=data.subject, display_name=data.display_name or data.subject,
                email=data.email)
    session.add(user)
    session.flush()
    for role in sorted(set(data.roles)):
        session.add(RoleGrant(user_id=user.id, role=role, granted_by=actor.id))
    record(session, action="user.create", actor=actor, target_type="user", target_id=user.id,
           details={"subject": user.subject, "roles": sorted(set(data.roles))})
    return user


def update_user(session: Session, user_id: str, data: UserUpdate, *, actor: Actor) -> User:
    user = get_user(session, user_id)
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput(Message("nothing to change"), code="user.empty_update")
    for name, value in changes.items():
        setattr(user, name, value)
    session.add(user)
    record(session, action="user.update", actor=actor, target_type="user", target_id=user.id,
           details={"fields": sorted(changes)})
    return user


def grant_role(session: Session, user_id: str, role: Role, *, actor: Actor,
               source: str = "local") -> None:
    user = get_user(session, user_id)
    if session.get(RoleGrant, (user.id, role, source)) is not None:
        raise Conflict(Message("user already holds role {role}", role=role.value),
                       code="role.already_granted")
    session.add(RoleGrant(user_id=user.id, role=role, source=source, granted_by=actor.id))
    record(session, action="user.role.grant", actor=actor, target_type="user",
           target_id=user.id, details={"role": role.value, "source": source})


def revoke_role(session: Session, user_id: str, role: Role, *, actor: Actor,
                source: str = "local") -> None:
    user = get_user(session, user_id)
    grant = session.get(RoleGrant, (user.id, role, source))
    if grant is None:
        raise NotFound(Message("user does not hold role {role} ({source})", role=role.value,
                               source=source),
                       code="role.not_granted")
    session.delete(grant)
    record(session, action="user.role.revoke", actor=actor, target_type="user",
           target_id=user.id, details={"role": role.value, "source": source})
