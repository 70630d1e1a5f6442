"""The permit's budget, set and removed from the project page by permit managers and
admins: the same domain functions, the same audit and the same refusals as
``PUT``/``DELETE /api/v1/projects/{id}/budget`` (docs/usage.md)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from spe.api import changes
from spe.api.deps import SessionDep, allow, wake_reconciler
from spe.api.platform import SettingsDep
from spe.console import forms
from spe.domain import budgets, permit_lifecycle
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.errors import InvalidInput, NotFound
from spe.messages import Message

router = APIRouter(prefix="/console")
Manager = Annotated[Principal, allow(*permit_lifecycle.PERMIT_MANAGERS)]
Number = Annotated[str, Form(max_length=30)]


def _number(field: str, text: str) -> float | None:
    """A form's number: blank is none; a decimal comma is read as a point."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(Message("{field}: {text!r} is not a number", field=field, text=text),
                           code="budget.not_a_number") from None


def _body(cpu_hours: str, gpu_hours: str, carbon_g_co2e: str, warn_percent: str,
          reason: str) -> budgets.BudgetSet:
    warn = _number("warn at (%)", warn_percent)
    try:
        return budgets.BudgetSet(
            cpu_hours=_number("CPU-hours", cpu_hours),
            gpu_hours=_number("GPU-hours", gpu_hours),
            carbon_g_co2e=_number("gCO2e", carbon_g_co2e),
            warn_fraction=0.8 if warn is None else warn / 100, reason=reason.strip())
    except ValidationError as exc:
        raise InvalidInput(forms.problems(exc, "budget"), code="budget.invalid") from None


def _project(session, project_id: str) -> None:
    if session.get(Project, project_id) is None:
        raise NotFound(Message("no project {project_id!r}", project_id=project_id),
                       code="project.not_found")


def _back(request: Request, project_id: str) -> RedirectResponse:
    """Start a reconcile pass for the committed change; back to the project's usage."""
    wake_reconciler(request)
    return RedirectResponse(f"/console/projects/{quote(project_id)}#usage", 303)


@router.post("/projects/{project_id}/budget", summary="Console: set the permit's budget")
def set_budget(project_id: str, request: Request, principal: Manager, session: SessionDep,
               settings: SettingsDep, cpu_hours: Number = "", gpu_hours: Number = "",
               carbon_g_co2e: Number = "", warn_percent: Number = "",
               reason: Annotated[str, Form(max_length=2000)] = "") -> RedirectResponse:
    with changes.run(session, principal, "usage.budget.set", "project",
                     project_id[:200]):
        _project(session, project_id)
        body = _body(cpu_hours, gpu_hours, carbon_g_co2e, warn_percent, reason)
        budgets.set_budget(session, project_id, body, principal.actor(), settings)
    return _back(request, project_id)


@router.post("/projects/{project_id}/budget/remove",
             summary="Console: remove the permit's budget")
def remove_budget(project_id: str, request: Request, principal: Manager,
                  session: SessionDep) -> RedirectResponse:
    with changes.run(session, principal, "usage.budget.remove", "project",
                     project_id[:200]):
        _project(session, project_id)
        budgets.remove_budget(session, project_id, principal.actor())
    return _back(request, project_id)
