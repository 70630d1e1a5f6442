"""A project's usage and estimated footprint, per member (docs/usage.md).

Readable by whoever may read the project (its members while their permit is active, and
staff such as permit managers; anyone else is told it does not exist), as JSON or CSV.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from spe.api.deps import SessionDep, allow
from spe.domain.principal import Principal
from spe.domain.projects import get_visible_project
from spe.domain.roles import Role
from spe.domain.usage import UsageReport, report_csv, usage_report

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
Reader = Annotated[Principal, allow(*Role)]


@router.get("/{project_id}/usage", response_model=UsageReport,
            summary="A project's CPU, memory, GPU and storage use and estimated footprint",
            responses={200: {"content": {"text/csv": {}}}})
def read_usage(project_id: str, principal: Reader, session: SessionDep, request: Request,
               format: Annotated[Literal["json", "csv"], Query()] = "json"):
    get_visible_project(session, project_id, principal.subject, principal.roles)
    report = usage_report(session, project_id, request.app.state.settings)
    if format == "csv":
        return PlainTextResponse(report_csv(report), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{project_id}-usage.csv"'})
    return report
