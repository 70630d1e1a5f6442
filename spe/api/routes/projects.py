"""Projects: researchers see those their active permits name them in; staff see all."""

from typing import Annotated

from fastapi import APIRouter, Depends

from spe.api.deps import SessionDep, allow
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.auth.principal import Principal
from spe.domain.projects import (
    Project,
    ProjectPublic,
    get_visible_project,
    to_public,
    visible_projects_query,
)
from spe.domain.roles import Role

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
Reader = Annotated[Principal, allow(*Role)]


@router.get("", summary="List the projects visible to me")
def list_projects(principal: Reader, session: SessionDep,
                  page: Annotated[PageParams, Depends(page_params)]) -> Page[ProjectPublic]:
    query = visible_projects_query(principal.subject, principal.roles).order_by(
        Project.created_at, Project.id)
    rows, cursor = paginate(session, query, page)
    return Page(items=[to_public(session, project, permit) for project, permit in rows],
                next=cursor)


@router.get("/{project_id}", summary="Read a project (404 if not visible to me)")
def read(project_id: str, principal: Reader, session: SessionDep) -> ProjectPublic:
    project, permit = get_visible_project(session, project_id, principal.subject,
                                          principal.roles)
    return to_public(session, project, permit)
