"""Home: who I am, my projects (and why I may not enter one), my egress requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import func, select

from spe.airlock import permissions, review
from spe.airlock.models import EgressRequest
from spe.api.deps import SessionDep, allow, allow_authenticated, allow_browser
from spe.api.platform import SettingsDep
from spe.auth.redirects import safe_next
from spe.console import i18n
from spe.console.web import render
from spe.dataplane import CONDITION as EXTRACT_CONDITION
from spe.domain import access, budgets, permit_lifecycle
from spe.domain.access import get_visible_project
from spe.domain.permits import Permit, PermitMember, datasets_of, members_of
from spe.domain.principal import Principal
from spe.domain.projects import DesiredState, Project, desired_state
from spe.domain.roles import Role
from spe.domain.users import get_user
from spe.messages import Message

router = APIRouter()
Person = Annotated[Principal, allow_authenticated()]
Everyone = Annotated[Principal, allow(*Role)]
Browser = Annotated[Principal | None, allow_browser()]
RECENT_REQUESTS = 50


@dataclass
class MyProject:
    project: Project
    permit: Permit
    desired: DesiredState
    refusal: Message | None
    open_url: str | None


def my_projects(session, principal: Principal, require_mfa: bool) -> list[MyProject]:
    """The projects whose permit names me, whatever the permit's state: the reason I may
    not enter one is the hub's own (:func:`spe.domain.access.refusal`)."""
    rows = session.exec(select(Project, Permit).join(Permit, Permit.id == Project.permit_id)
                        .join(PermitMember, PermitMember.permit_id == Permit.id)
                        .where(PermitMember.subject == principal.subject)
                        .order_by(Project.title, Project.id)).all()
    found = []
    for project, permit in rows:
        refused = access.refusal(session, principal, project.id, require_mfa=require_mfa)
        refusal = refused.reason if refused else None
        ready = project.observed_state == "ready" and project.workspace_url
        url = f"{project.workspace_url.rstrip('/')}/hub/oauth_login" \
            if ready and refusal is None else None
        found.append(MyProject(project, permit, desired_state(permit), refusal, url))
    return found


@router.get("/", response_class=HTMLResponse, summary="Console: Home")
def home(request: Request, principal: Person, session: SessionDep,
         settings: SettingsDep) -> HTMLResponse:
    user = get_user(session, principal.user_id)
    mine = session.exec(select(EgressRequest)
                        .where(EgressRequest.requester_id == principal.user_id)
                        .order_by(EgressRequest.updated_at.desc())
                        .limit(RECENT_REQUESTS)).all()
    waiting = None
    if Role.output_checker in principal.roles:
        waiting = session.exec(select(func.count()).select_from(EgressRequest).where(
            EgressRequest.status.in_([s.value for s in review.AWAITING_REVIEW]))).one()
    return render(request, "home.html", principal, user=user,
                  projects=my_projects(session, principal, settings.workspace_requires_mfa),
                  requests=mine, waiting=waiting)


@router.get("/console/language", summary="Console: choose the language (a cookie)")
def choose_language(_: Browser, to: str, next: str = "/") -> RedirectResponse:
    response = RedirectResponse(safe_next(next) or "/", 303)
    if to in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, to, max_age=365 * 86400, samesite="lax",
                            httponly=True)
    return response


@router.get("/console/projects/{project_id}", response_class=HTMLResponse,
            summary="Console: a project (404 unless visible to me, as on the API)")
def project_page(project_id: str, request: Request, principal: Everyone,
                 session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    project, permit = get_visible_project(session, project_id, principal.subject,
                                          principal.roles)
    requests = []  # staff who see every project, not named in this one, see none
    if permissions.can_use_project(session, project.id, principal):
        requests = session.exec(select(EgressRequest)
                                .where(EgressRequest.project_id == project.id)
                                .order_by(EgressRequest.updated_at.desc())
                                .limit(RECENT_REQUESTS)).all()
    extract = project.conditions.get(EXTRACT_CONDITION) or {"state": "absent"}
    # the figures of GET /api/v1/projects/{id}/usage, to whoever may see the project
    usage = budgets.report(session, project.id, settings)
    return render(request, "project.html", principal, project=project, permit=permit,
                  desired=desired_state(permit), members=members_of(session, permit.id),
                  datasets=datasets_of(session, permit.id), extract=extract,
                  requests=requests, usage=usage,
                  manages=principal.has_any(permit_lifecycle.PERMIT_MANAGERS))
