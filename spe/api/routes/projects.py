"""Projects: researchers see those their active permits name them in; staff see all.

``POST /{id}/halt`` is the kill switch: it suspends the project's permit (the permit state
machine's ``suspend``) and wakes the reconciler running in this process, which stops every
server and the hub at once; the hubs' logins are refused from then on (see docs/quickstart.md).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from spe.api import changes
from spe.api.deps import SessionDep, allow, wake_reconciler
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.domain import permit_lifecycle
from spe.domain.access import get_visible_project, visible_projects_query
from spe.domain.permits import PermitReason
from spe.domain.principal import Principal
from spe.domain.projects import Project, ProjectPublic, to_public, to_public_many
from spe.domain.roles import Role
from spe.errors import NotFound
from spe.messages import Message

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
Reader = Annotated[Principal, allow(*Role)]
Manager = Annotated[Principal, allow(*permit_lifecycle.PERMIT_MANAGERS)]


@router.get("", summary="List the projects visible to me")
def list_projects(principal: Reader, session: SessionDep,
                  page: Annotated[PageParams, Depends(page_params)]) -> Page[ProjectPublic]:
    query = visible_projects_query(principal.subject, principal.roles).order_by(
        Project.created_at, Project.id)
    rows, cursor = paginate(session, query, page)
    return Page(items=to_public_many(session, rows), next=cursor)


@router.get("/{project_id}", summary="Read a project (404 if not visible to me)")
def read(project_id: str, principal: Reader, session: SessionDep) -> ProjectPublic:
    project, permit = get_visible_project(session, project_id, principal.subject,
                                          principal.roles)
    return to_public(session, project, permit)


@router.post("/{project_id}/halt",
             summary="Kill switch: suspend the project's permit and stop its workspace now")
def halt(project_id: str, body: PermitReason, principal: Manager, session: SessionDep,
         request: Request) -> ProjectPublic:
    with changes.run(session, principal, "permit.suspend", "project",
                     project_id[:200]):
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(Message("no project {project_id!r}", project_id=project_id),
                           code="project.not_found")
        permit = permit_lifecycle.suspend_permit(session, project.permit_id, body.reason,
                                                 principal)
    wake_reconciler(request)
    return to_public(session, project, permit)
