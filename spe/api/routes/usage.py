"""A project's usage, estimated footprint and budget (docs/usage.md).

Readable by whoever may read the project (its members while their permit is active, and
staff such as permit managers; anyone else is told it does not exist), as JSON or CSV.
Permit managers set and remove the permit's budget, kept on its project.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from spe.api import changes
from spe.api.deps import SessionDep, allow, wake_reconciler
from spe.api.platform import SettingsDep
from spe.domain import budgets, permit_lifecycle
from spe.domain.access import get_visible_project
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.domain.usage import report_csv
from spe.errors import NotFound
from spe.messages import Message

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
Reader = Annotated[Principal, allow(*Role)]
Manager = Annotated[Principal, allow(*permit_lifecycle.PERMIT_MANAGERS)]


@router.get("/{project_id}/usage", response_model=budgets.UsageAndBudget,
            summary="A project's CPU, memory, GPU and storage use, estimated footprint and "
                    "budget",
            responses={200: {"content": {"text/csv": {}}}})
def read_usage(project_id: str, principal: Reader, session: SessionDep, settings: SettingsDep,
               format: Annotated[Literal["json", "csv"], Query()] = "json"):
    get_visible_project(session, project_id, principal.subject, principal.roles)
    report = budgets.report(session, project_id, settings)
    if format == "csv":
        return PlainTextResponse(report_csv(report), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{project_id}-usage.csv"'})
    return report


def _project(session, project_id: str) -> None:
    if session.get(Project, project_id) is None:
        raise NotFound(Message("no project {project_id!r}", project_id=project_id),
                       code="project.not_found")


@router.put("/{project_id}/budget", response_model=budgets.BudgetStatus,
            summary="Set the permit's budget: warn past a fraction, refuse new servers past "
                    "a limit")
def set_budget(project_id: str, body: budgets.BudgetSet, principal: Manager,
               session: SessionDep, request: Request,
               settings: SettingsDep) -> budgets.BudgetStatus:
    with changes.run(session, principal, "usage.budget.set", "project",
                     project_id[:200]):
        _project(session, project_id)
        budgets.set_budget(session, project_id, body, principal.actor(), settings)
    wake_reconciler(request)  # the workspace refuses or accepts new servers at once
    return budgets.report(session, project_id, settings).budget


@router.delete("/{project_id}/budget", status_code=204,
               summary="Remove the permit's budget (new servers are no longer refused)")
def remove_budget(project_id: str, principal: Manager, session: SessionDep,
                  request: Request) -> Response:
    with changes.run(session, principal, "usage.budget.remove", "project",
                     project_id[:200]):
        _project(session, project_id)
        budgets.remove_budget(session, project_id, principal.actor())
    wake_reconciler(request)
    return Response(status_code=204)
