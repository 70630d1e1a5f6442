"""People who arrive through the identity provider: created on first sight (just in time)
with exactly the roles their mapped groups give, and those roles refreshed at each sign-in
or bearer call. Local grants by an admin stay as they are; the effective roles are both."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from spe.audit import Actor, record
from spe.auth.authenticate import bearer_token
from spe.auth.oidc import BearerAuthenticator, Identity, looks_like_jwt
from spe.auth.sessions import open_session
from spe.db import session_scope
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import RoleGrant, User, UserCreate, create_user, find_by_subject, roles_of

IDP = "idp"
ACTOR = Actor.system("identity-provider")


def provision(session: Session, identity: Identity) -> User:
    """The person's user, created or updated, with IdP roles synced to ``identity.roles``."""
    user = find_by_subject(session, identity.subject)
    if user is None:
        user = create_user(session, UserCreate(subject=identity.subject,
                                               display_name=identity.name or "",
                                               email=identity.email), actor=ACTOR)
    elif (identity.name and identity.name != user.display_name) or \
            (identity.email and identity.email != user.email):
        user.display_name = identity.name or user.display_name
        user.email = identity.email or user.email
        session.add(user)
    held = {Role(r) for r in session.exec(select(RoleGrant.role).where(
        RoleGrant.user_id == user.id, RoleGrant.source == IDP))}
    for role in sorted(identity.roles - held):
        session.add(RoleGrant(user_id=user.id, role=role, source=IDP, granted_by=ACTOR.id))
    for role in sorted(held - identity.roles):
        session.delete(session.get(RoleGrant, (user.id, role, IDP)))
    if identity.roles != held:
        record(session, action="user.roles.sync", actor=ACTOR, target_type="user",
               target_id=user.id, details={"roles": sorted(identity.roles)})
    return user


def login_handler(engine: Engine):
    """The ``on_login`` hook of the OIDC login router."""

    def on_login(identity: Identity, request: Request) -> None:
        with session_scope(engine) as session:
            user = provision(session, identity)
            open_session(request, user, via="oidc", mfa=identity.mfa_satisfied)
            record(session, action="auth.login", actor=Actor.user(user.id),
                   target_type="user", target_id=user.id,
                   details={"method": "oidc", "mfa": identity.mfa_satisfied})

    return on_login


def provider_token(bearer: BearerAuthenticator):
    """Authenticator for the provider's JWT access tokens (beside personal tokens)."""

    def authenticate(request: Request, session: Session) -> Principal | None:
        token = bearer_token(request)
        if token is None or not looks_like_jwt(token):
            return None
        identity = bearer.authenticate_bearer(token)
        with session_scope(request.app.state.engine) as write:
            user = provision(write, identity)
            user_id, subject, active = user.id, user.subject, user.active
        if not active:
            return None
        return Principal(user_id=user_id, subject=subject,
                         roles=frozenset(roles_of(session, user_id)), via="oidc",
                         mfa=identity.mfa_satisfied)

    return authenticate
