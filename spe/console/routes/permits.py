"""The permit manager's pages: permits, one permit with its history, record a permit from a
form, amend, renew, suspend / resume / revoke with a reason, apply a signed decision (JWS),
and the project kill switch behind a confirmation.

The same role rules, the same lifecycle functions (:mod:`spe.domain.permit_lifecycle`) and
the same deployment rule as the API's routes (a deployment that takes permit changes only
as signed decisions refuses them here too); auditors read, permit managers and admins act.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select

import policies
from spe.api import changes
from spe.api.deps import SessionDep, allow, wake_reconciler
from spe.api.platform import SettingsDep
from spe.api.routes.permits import Unsigned
from spe.console import forms
from spe.console.web import render
from spe.domain import permit_decisions as decisions
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.datasets import Dataset
from spe.domain.permits import (
    Permit,
    PermitAmend,
    PermitCreate,
    PermitRenew,
    PermitRevision,
    PermitStatus,
    datasets_of,
    get_permit,
    members_of,
)
from spe.domain.principal import Principal
from spe.domain.projects import Project, desired_state, project_of
from spe.domain.users import User
from spe.errors import InvalidInput, NotFound
from spe.messages import Message

router = APIRouter(prefix="/console")
Manager = Annotated[Principal, allow(*lifecycle.PERMIT_MANAGERS)]
Reader = Annotated[Principal, allow(*lifecycle.PERMIT_READERS)]
Reason = Annotated[str, Form(max_length=2000)]
Text = Annotated[str, Form(max_length=5000)]
Long = Annotated[str, Form(max_length=100_000)]
LISTED = 500


def _back(permit_id: str) -> RedirectResponse:
    return RedirectResponse(f"/console/permits/{quote(permit_id)}", 303)


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidInput(Message("give a reason: it is recorded with the change"),
                           code="permit.reason_required")
    return reason.strip()


@router.get("/permits", response_class=HTMLResponse, summary="Console: permits")
def permit_list(request: Request, principal: Reader, session: SessionDep,
                status: PermitStatus | None = None) -> HTMLResponse:
    query = select(Permit, Project).join(Project, Project.permit_id == Permit.id,
                                         isouter=True)
    if status is not None:
        query = query.where(Permit.status == status)
    rows = session.exec(query.order_by(Permit.created_at.desc()).limit(LISTED)).all()
    return render(request, "permits.html", principal, rows=rows, wanted=status,
                  statuses=list(PermitStatus),
                  manages=principal.has_any(lifecycle.PERMIT_MANAGERS))


@router.get("/permits/new", response_class=HTMLResponse,
            summary="Console: the form recording a granted permit")
def permit_form(request: Request, principal: Manager, session: SessionDep) -> HTMLResponse:
    return render(request, "permit_new.html", principal, **_choices(session))


def _choices(session) -> dict:
    catalogue = session.exec(select(Dataset).order_by(Dataset.name).limit(LISTED)).all()
    return {"packs": policies.available("packs"),
            "profiles": policies.available("workspace-profiles"), "catalogue": catalogue}


@router.post("/permits", summary="Console: record a granted permit (creates its project)")
def create(request: Request, principal: Manager, session: SessionDep,
           reference: Annotated[str, Form(max_length=64)], issuer: Text,
           project_title: Text, purpose: Text, principal_investigator: Text, members: Long,
           datasets: Long, valid_from: Text, valid_until: Text, sdc_policy: Text = "snds",
           workspace_profile: Text = "standard", _: None = Unsigned) -> RedirectResponse:
    with changes.run(session, principal, "permit.create", "permit"):
        body = forms.checked(PermitCreate, {
            "reference": reference.strip(), "issuer": issuer.strip(),
            "project_title": project_title.strip(), "purpose": purpose.strip(),
            "principal_investigator": principal_investigator.strip(),
            "members": forms.lines(members), "datasets": forms.datasets(datasets),
            "sdc_policy": sdc_policy, "workspace_profile": workspace_profile,
            "valid_from": forms.day(valid_from, "valid_from"),
            "valid_until": forms.day(valid_until, "valid_until", end=True)})
        permit = lifecycle.create_permit(session, body, principal)
    return _saved(request, permit)


@router.post("/permits/decisions", summary="Console: apply a permit decision signed by a "
             "trusted issuer (JWS)")
def apply_signed(request: Request, principal: Manager, session: SessionDep,
                 settings: SettingsDep,
                 jws: Annotated[str, Form(max_length=decisions.MAX_TOKEN)]) -> RedirectResponse:
    issuers_file = settings.permits.issuers_file
    with changes.run(session, principal, "permit.decision.refuse",
                     "permit_decision"):
        verified = decisions.verify(jws.strip(),
                                    decisions.TrustedIssuers.load(issuers_file))
        permit = decisions.apply(session, verified, principal)
    return _saved(request, permit)


@router.get("/permits/{permit_id}", response_class=HTMLResponse,
            summary="Console: a permit, its project and its history")
def permit_page(permit_id: str, request: Request, principal: Reader,
                session: SessionDep) -> HTMLResponse:
    permit = get_permit(session, permit_id)
    revisions = session.exec(select(PermitRevision).where(PermitRevision.permit_id == permit.id)
                             .order_by(PermitRevision.id)).all()
    actors = {u.id: u for u in session.exec(select(User).where(User.id.in_(
        sorted({r.actor_id for r in revisions if r.actor_id}))))}
    signed = session.exec(decisions.decisions_of(permit.id)).all()
    project = project_of(session, permit.id)
    return render(request, "permit.html", principal, permit=permit, project=project,
                  desired=desired_state(permit), members=members_of(session, permit.id),
                  datasets=datasets_of(session, permit.id), revisions=revisions,
                  actors=actors, signed=signed,
                  manages=principal.has_any(lifecycle.PERMIT_MANAGERS),
                  permit_status=permit.effective_status(),
                  amendable=lifecycle.can_transition(permit, "amend", principal),
                  renewable=lifecycle.can_transition(permit, "renew", principal),
                  **_choices(session))


@router.post("/permits/{permit_id}/amend", summary="Console: amend a permit's terms")
def amend(permit_id: str, request: Request, principal: Manager, session: SessionDep,
          project_title: Text, purpose: Text, principal_investigator: Text, members: Long,
          datasets: Long, sdc_policy: Text, workspace_profile: Text, reason: Reason = "",
          _: None = Unsigned) -> RedirectResponse:
    action = lifecycle.TRANSITIONS["amend"].action
    with changes.run(session, principal, action, "permit", permit_id[:200]):
        permit = get_permit(session, permit_id)
        asked = {"project_title": project_title.strip(), "purpose": purpose.strip(),
                 "principal_investigator": principal_investigator.strip(),
                 "members": sorted(set(forms.lines(members))),
                 "datasets": forms.datasets(datasets), "sdc_policy": sdc_policy,
                 "workspace_profile": workspace_profile}
        now = {"project_title": permit.project_title, "purpose": permit.purpose,
               "principal_investigator": permit.principal_investigator,
               "members": members_of(session, permit.id),
               "datasets": datasets_of(session, permit.id), "sdc_policy": permit.sdc_policy,
               "workspace_profile": permit.workspace_profile}
        changed = {k: v for k, v in asked.items() if v != now[k]}  # the terms the form changed
        body = forms.checked(PermitAmend, {**changed, "reason": _reason(reason)})
        permit = lifecycle.amend_permit(session, permit_id, body, principal)
    return _saved(request, permit)


@router.post("/permits/{permit_id}/renew", summary="Console: extend a permit's validity")
def renew(permit_id: str, request: Request, principal: Manager, session: SessionDep,
          valid_until: Text, reason: Reason = "", _: None = Unsigned) -> RedirectResponse:
    action = lifecycle.TRANSITIONS["renew"].action
    with changes.run(session, principal, action, "permit", permit_id[:200]):
        body = forms.checked(PermitRenew, {
            "valid_until": forms.day(valid_until, "valid_until", end=True),
            "reason": _reason(reason)})
        permit = lifecycle.renew_permit(session, permit_id, body, principal)
    return _saved(request, permit)


@router.post("/permits/{permit_id}/suspend", summary="Console: suspend a permit")
def suspend(permit_id: str, request: Request, principal: Manager, session: SessionDep,
            reason: Reason = "", _: None = Unsigned) -> RedirectResponse:
    with changes.run(session, principal, "permit.suspend", "permit", permit_id):
        permit = lifecycle.suspend_permit(session, permit_id, _reason(reason), principal)
    return _saved(request, permit)


@router.post("/permits/{permit_id}/resume", summary="Console: lift a permit's suspension")
def resume(permit_id: str, request: Request, principal: Manager, session: SessionDep,
           reason: Reason = "", _: None = Unsigned) -> RedirectResponse:
    with changes.run(session, principal, "permit.resume", "permit", permit_id):
        permit = lifecycle.resume_permit(session, permit_id, _reason(reason), principal)
    return _saved(request, permit)


@router.post("/permits/{permit_id}/revoke", summary="Console: revoke a permit for good")
def revoke(permit_id: str, request: Request, principal: Manager, session: SessionDep,
           reason: Reason = "", confirm: Annotated[str, Form(max_length=10)] = "",
           _: None = Unsigned) -> RedirectResponse:
    with changes.run(session, principal, "permit.revoke", "permit", permit_id):
        _confirmed(confirm)
        permit = lifecycle.revoke_permit(session, permit_id, _reason(reason), principal)
    return _saved(request, permit)


@router.post("/projects/{project_id}/halt",
             summary="Console: the kill switch (suspend the permit, stop the workspace now)")
def halt(project_id: str, request: Request, principal: Manager, session: SessionDep,
         reason: Reason = "", confirm: Annotated[str, Form(max_length=10)] = ""
         ) -> RedirectResponse:
    with changes.run(session, principal, "permit.suspend", "project", project_id):
        _confirmed(confirm)
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(Message("no project {project_id!r}", project_id=project_id),
                           code="project.not_found")
        permit = lifecycle.suspend_permit(session, project.permit_id, _reason(reason),
                                          principal)
    return _saved(request, permit)


def _confirmed(confirm: str) -> None:
    if confirm != "yes":
        raise InvalidInput(Message("tick the confirmation: this stops the work of everyone "
                                   "in the project"), code="permit.confirmation_required")


def _saved(request: Request, permit: Permit) -> RedirectResponse:
    """Start a reconcile pass for the committed change; back to the permit's page."""
    wake_reconciler(request)
    return _back(permit.id)
