"""The admin's pages: people (add one), their roles (grant and revoke local grants), their
personal tokens (revoke one), deactivation.

The same functions as the API's ``/api/v1/users`` routes (:mod:`spe.domain.users`), under
the same rules: admins act, permit managers and auditors read.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select

from spe.api import changes
from spe.api.deps import SessionDep, allow
from spe.auth.tokens import ApiToken, revoke_token
from spe.console import forms
from spe.console.web import render
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import (
    RoleGrant,
    User,
    UserCreate,
    UserUpdate,
    create_user,
    get_user,
    grant_role,
    revoke_role,
    roles_of,
    update_user,
)

router = APIRouter(prefix="/console/users")
Admin = Annotated[Principal, allow(Role.admin)]
Reader = Annotated[Principal, allow(Role.admin, Role.permit_manager, Role.auditor)]
LISTED = 500


def _back(user_id: str) -> RedirectResponse:
    return RedirectResponse(f"/console/users/{quote(user_id)}", 303)


@router.get("", response_class=HTMLResponse, summary="Console: people and their roles")
def people(request: Request, principal: Reader, session: SessionDep) -> HTMLResponse:
    users = session.exec(select(User).order_by(User.subject).limit(LISTED)).all()
    roles = {u.id: sorted(roles_of(session, u.id)) for u in users}
    return render(request, "users.html", principal, users=users, roles=roles,
                  all_roles=list(Role), manages=Role.admin in principal.roles)


@router.post("", summary="Console: add a person (their identity at the provider, roles)")
def add(request: Request, principal: Admin, session: SessionDep,
        subject: Annotated[str, Form(max_length=200)],
        display_name: Annotated[str, Form(max_length=200)] = "",
        email: Annotated[str, Form(max_length=320)] = "",
        roles: Annotated[list[Role] | None, Form()] = None) -> RedirectResponse:
    with changes.run(session, principal, "user.create", "user"):
        body = forms.checked(UserCreate, {"subject": subject.strip(),
                                          "display_name": display_name.strip(),
                                          "email": email.strip() or None,
                                          "roles": sorted(set(roles or []))})
        user = create_user(session, body, actor=principal.actor())
    return _back(user.id)


@router.get("/{user_id}", response_class=HTMLResponse, summary="Console: a person")
def person(user_id: str, request: Request, principal: Reader,
           session: SessionDep) -> HTMLResponse:
    user = get_user(session, user_id)
    grants = session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id)
                          .order_by(RoleGrant.role)).all()
    tokens = session.exec(select(ApiToken).where(ApiToken.user_id == user.id)
                          .order_by(ApiToken.created_at.desc()).limit(LISTED)).all()
    return render(request, "user.html", principal, user=user, grants=grants, tokens=tokens,
                  effective=sorted(roles_of(session, user.id)), all_roles=list(Role),
                  manages=Role.admin in principal.roles)


@router.post("/{user_id}/roles", summary="Console: grant a role")
def grant(user_id: str, principal: Admin, session: SessionDep,
          role: Annotated[Role, Form()]) -> RedirectResponse:
    with changes.run(session, principal, "user.role.grant", "user", user_id):
        grant_role(session, user_id, role, actor=principal.actor())
    return _back(user_id)


@router.post("/{user_id}/roles/{role}/revoke", summary="Console: revoke a local role grant")
def revoke(user_id: str, role: Role, principal: Admin, session: SessionDep) -> RedirectResponse:
    with changes.run(session, principal, "user.role.revoke", "user", user_id):
        revoke_role(session, user_id, role, actor=principal.actor())
    return _back(user_id)


@router.post("/{user_id}/active", summary="Console: deactivate or reactivate a person")
def set_active(user_id: str, principal: Admin, session: SessionDep,
               active: Annotated[bool, Form()]) -> RedirectResponse:
    with changes.run(session, principal, "user.update", "user", user_id):
        update_user(session, user_id, UserUpdate(active=active), actor=principal.actor())
    return _back(user_id)


@router.post("/{user_id}/tokens/{token_id}/revoke", summary="Console: revoke a person's token")
def revoke_users_token(user_id: str, token_id: str, principal: Admin,
                       session: SessionDep) -> RedirectResponse:
    with changes.run(session, principal, "token.revoke", "token", token_id[:200]):
        revoke_token(session, token_id, actor=principal.actor(),
                     owner_id=get_user(session, user_id).id)
    return _back(user_id)
