"""The caller's own profile, effective roles and personal tokens."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StrictFloat, StrictInt
from sqlmodel import select

from spe.api import changes
from spe.api.deps import SessionDep, allow_authenticated
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.api.platform import SettingsDep
from spe.auth.sessions import CSRF
from spe.auth.tokens import ApiToken, ApiTokenCreated, ApiTokenPublic, issue_token, revoke_token
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import get_user, roles_of

router = APIRouter(prefix="/api/v1/me", tags=["me"])
Me = Annotated[Principal, allow_authenticated()]


class MePublic(BaseModel):
    id: str
    subject: str
    display_name: str
    email: str | None
    roles: list[Role] = Field(description="Effective roles: local grants and mapped groups.")
    authenticated_via: str
    mfa: bool
    csrf_token: str | None = Field(None, description="For a browser session: the value to send "
                                   "as X-CSRF-Token on state-changing calls.")


class TokenRequest(BaseModel):
    description: str = Field(default="", max_length=200)
    expires_in_hours: StrictFloat | StrictInt = Field(default=8, gt=0, le=24 * 90)


@router.get("", summary="Who am I, with which roles")
def me(principal: Me, session: SessionDep, request: Request) -> MePublic:
    user = get_user(session, principal.user_id)
    csrf = request.session.get(CSRF) if principal.via.startswith("session") else None
    return MePublic(id=user.id, subject=user.subject, display_name=user.display_name,
                    email=user.email, roles=sorted(roles_of(session, user.id)),
                    authenticated_via=principal.via, mfa=principal.mfa, csrf_token=csrf)


@router.get("/tokens", summary="My personal API tokens (never their secrets)")
def my_tokens(principal: Me, session: SessionDep,
              page: Annotated[PageParams, Depends(page_params)]) -> Page[ApiTokenPublic]:
    query = (select(ApiToken).where(ApiToken.user_id == principal.user_id)
             .order_by(ApiToken.created_at, ApiToken.id))
    rows, cursor = paginate(session, query, page)
    return Page(items=[ApiTokenPublic.model_validate(t, from_attributes=True) for t in rows],
                next=cursor)


@router.post("/tokens", status_code=201, summary="Create a personal API token (shown once)")
def create_my_token(principal: Me, session: SessionDep, body: TokenRequest,
                    settings: SettingsDep) -> ApiTokenCreated:
    max_hours = settings.auth.token_max_ttl_days * 24
    hours = min(body.expires_in_hours, max_hours)
    with changes.run(session, principal, "token.create", "user", principal.user_id):
        token, secret = issue_token(session, ttl=timedelta(hours=hours),
                                    actor=principal.actor(), user_id=principal.user_id,
                                    description=body.description, mfa=principal.mfa)
    return ApiTokenCreated(**ApiTokenPublic.model_validate(token, from_attributes=True)
                           .model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of my tokens")
def revoke_my_token(token_id: str, principal: Me, session: SessionDep) -> None:
    with changes.run(session, principal, "token.revoke", "token", token_id):
        revoke_token(session, token_id, actor=principal.actor(), owner_id=principal.user_id)
