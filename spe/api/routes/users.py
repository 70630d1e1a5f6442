"""People, their role grants and personal tokens (admins manage; permit managers and
auditors read)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import select

from spe.api import changes
from spe.api.deps import SessionDep, allow
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.auth.tokens import ApiToken, ApiTokenPublic, revoke_token
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import (
    User,
    UserCreate,
    UserPublic,
    UserUpdate,
    create_user,
    get_user,
    grant_role,
    revoke_role,
    to_public,
    update_user,
)

router = APIRouter(prefix="/api/v1/users", tags=["users"])
Admin = Annotated[Principal, allow(Role.admin)]
Reader = Annotated[Principal, allow(Role.admin, Role.permit_manager, Role.auditor)]


@router.get("", summary="List users")
def list_users(_: Reader, session: SessionDep,
               page: Annotated[PageParams, Depends(page_params)]) -> Page[UserPublic]:
    rows, cursor = paginate(session, select(User).order_by(User.subject), page)
    return Page(items=[to_public(session, u) for u in rows], next=cursor)


@router.post("", status_code=201, summary="Create a user")
def create(body: UserCreate, principal: Admin, session: SessionDep) -> UserPublic:
    with changes.run(session, principal, "user.create", "user", body.subject):
        user = create_user(session, body, actor=principal.actor())
    return to_public(session, user)


@router.get("/{user_id}", summary="Read a user")
def read(user_id: str, _: Reader, session: SessionDep) -> UserPublic:
    return to_public(session, get_user(session, user_id))


@router.patch("/{user_id}", summary="Change a user's name, email or active flag")
def update(user_id: str, body: UserUpdate, principal: Admin, session: SessionDep) -> UserPublic:
    with changes.run(session, principal, "user.update", "user", user_id):
        user = update_user(session, user_id, body, actor=principal.actor())
    return to_public(session, user)


@router.put("/{user_id}/roles/{role}", summary="Grant a role")
def grant(user_id: str, role: Role, principal: Admin, session: SessionDep) -> UserPublic:
    with changes.run(session, principal, "user.role.grant", "user", user_id):
        grant_role(session, user_id, role, actor=principal.actor())
    return to_public(session, get_user(session, user_id))


@router.delete("/{user_id}/roles/{role}", summary="Revoke a locally granted role")
def revoke(user_id: str, role: Role, principal: Admin, session: SessionDep) -> UserPublic:
    with changes.run(session, principal, "user.role.revoke", "user", user_id):
        revoke_role(session, user_id, role, actor=principal.actor())
    return to_public(session, get_user(session, user_id))


@router.get("/{user_id}/tokens", summary="A person's personal API tokens (never their secrets)")
def tokens(user_id: str, _: Reader, session: SessionDep,
           page: Annotated[PageParams, Depends(page_params)]) -> Page[ApiTokenPublic]:
    user = get_user(session, user_id)
    query = (select(ApiToken).where(ApiToken.user_id == user.id)
             .order_by(ApiToken.created_at, ApiToken.id))
    rows, cursor = paginate(session, query, page)
    return Page(items=[ApiTokenPublic.model_validate(t, from_attributes=True) for t in rows],
                next=cursor)


@router.delete("/{user_id}/tokens/{token_id}", status_code=204,
               summary="Revoke a person's token (a lost laptop, a departure)")
def revoke_users_token(user_id: str, token_id: str, principal: Admin,
                       session: SessionDep) -> None:
    with changes.run(session, principal, "token.revoke", "token", token_id[:200]):
        revoke_token(session, token_id, actor=principal.actor(),
                     owner_id=get_user(session, user_id).id)
