"""The researcher's pages: a request of mine (withdraw, resubmit, download its release),
and personal tokens for the command line.

The same workflow functions and access rules as the API's twins; a researcher reads a
request only of a project they may use
(:func:`spe.airlock.permissions.check_can_use_project`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select

from spe.airlock import permissions, review, submission
from spe.airlock.views import request_view
from spe.api import changes
from spe.api.deps import SessionDep, allow, allow_authenticated
from spe.api.platform import SettingsDep
from spe.api.routes.egress import ReplaysDep, Staging, object_store
from spe.auth.tokens import ApiToken, issue_token, revoke_token
from spe.console.web import render
from spe.domain.principal import Principal
from spe.domain.roles import Role

router = APIRouter(prefix="/console")
Researcher = Annotated[Principal, allow(Role.researcher)]
Person = Annotated[Principal, allow_authenticated()]
Text = Annotated[str, Form(max_length=5000)]
TOKENS_SHOWN = 100


def _back(request_id: str) -> RedirectResponse:
    return RedirectResponse(f"/console/requests/{quote(request_id)}", 303)


@router.get("/requests/{request_id}", response_class=HTMLResponse,
            summary="Console: one of my egress requests")
def my_request(request_id: str, request: Request, principal: Researcher,
               session: SessionDep) -> HTMLResponse:
    row = review.get_request(session, request_id)
    permissions.check_can_use_project(session, row.project_id, principal)
    release = review.release_of(session, row.id)
    ids = {f.name: f.id for f in review.files_of(session, row.id)}
    released = [dict(entry, file_id=ids.get(entry["name"]))
                for entry in (release.manifest.get("files", []) if release else [])]
    return render(request, "request.html", principal, view=request_view(session, row,
                                                                          principal),
                  release=release, released=released,
                  mine=row.requester_id == principal.user_id)


@router.post("/requests/{request_id}/withdraw", summary="Console: withdraw my request")
def withdraw(request_id: str, request: Request, principal: Researcher, session: SessionDep,
             reason: Text = "") -> RedirectResponse:
    with changes.run(session, principal, "egress.request.withdraw",
                     "egress_request", request_id):
        row = review.get_request(session, request_id)
        review.withdraw_request(session, row, principal, reason)
    return _back(request_id)


@router.post("/requests/{request_id}/resubmit",
             summary="Console: send a returned request back for review")
def resubmit(request_id: str, request: Request, principal: Researcher, session: SessionDep,
             staged_in: Staging, replayer: ReplaysDep) -> RedirectResponse:
    with changes.run(session, principal, "egress.request.resubmit",
                     "egress_request", request_id):
        row = review.get_request(session, request_id)
        submission.resubmit(session, object_store(request), staged_in, row, principal,
                            replayer)
    return _back(request_id)


def _tokens_page(request: Request, principal: Principal, session, secret: str | None = None,
                 status: int = 200) -> HTMLResponse:
    rows = session.exec(select(ApiToken).where(ApiToken.user_id == principal.user_id)
                        .order_by(ApiToken.created_at.desc()).limit(TOKENS_SHOWN)).all()
    return render(request, "tokens.html", principal, tokens=rows, secret=secret,
                  status=status)


@router.get("/tokens", response_class=HTMLResponse, summary="Console: my personal tokens")
def tokens(request: Request, principal: Person, session: SessionDep) -> HTMLResponse:
    return _tokens_page(request, principal, session)


@router.post("/tokens", summary="Console: create a personal token (shown once)")
def create_token(request: Request, principal: Person, session: SessionDep,
                 settings: SettingsDep, description: Annotated[str, Form(max_length=200)] = "",
                 hours: Annotated[float, Form(gt=0, le=24 * 90)] = 8) -> HTMLResponse:
    """The secret is in this response only: never stored, never in a URL."""
    max_hours = settings.auth.token_max_ttl_days * 24
    with changes.run(session, principal, "token.create", "user", principal.user_id):
        _, secret = issue_token(session, ttl=timedelta(hours=min(hours, max_hours)),
                                actor=principal.actor(), user_id=principal.user_id,
                                description=description, mfa=principal.mfa)
    return _tokens_page(request, principal, session, secret, 201)


@router.post("/tokens/{token_id}/revoke", summary="Console: revoke one of my tokens")
def revoke(token_id: str, principal: Person, session: SessionDep) -> RedirectResponse:
    with changes.run(session, principal, "token.revoke", "token", token_id):
        revoke_token(session, token_id, actor=principal.actor(), owner_id=principal.user_id)
    return RedirectResponse("/console/tokens", 303)
