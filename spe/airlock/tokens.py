"""Workspace tokens: what a researcher uses inside their workspace to submit outputs.

A project's hub asks for one on behalf of a person it has signed in. The token is short-lived,
belongs to that person, and is scoped to the hub's project, so from inside the workspace it
can act on that project only, and never download a release.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from spe.auth.tokens import ApiToken, issue_token
from spe.domain import access
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import find_by_subject, roles_of
from spe.errors import Forbidden, NotFound
from spe.messages import Message


def issue_workspace_token(session: Session, project_id: str, subject: str,
                          principal: Principal, ttl: timedelta) -> tuple[ApiToken, str]:
    """A token for ``subject`` scoped to ``project_id``, asked for by that project's hub."""
    if principal.component != "hub" or principal.project_id != project_id:
        raise Forbidden(Message("only the project's own hub may ask for its workspace tokens"),
                        code="egress.wrong_hub")
    user = find_by_subject(session, subject)
    roles = frozenset(roles_of(session, user.id)) if user is not None else frozenset()
    if user is None or not user.active or Role.researcher not in roles:
        raise NotFound(Message("no researcher {subject!r}", subject=subject),
                       code="egress.unknown_researcher")
    person = Principal(user_id=user.id, subject=user.subject, roles=roles, via="hub")
    refused = access.refusal(session, person, project_id)
    if refused is not None:
        raise Forbidden(Message("{subject} may not enter project {project_id}: {reason}",
                                subject=subject, project_id=project_id, reason=refused.reason),
                        code="egress.not_permitted")
    return issue_token(session, ttl=ttl, actor=principal.actor(), user_id=user.id,
                       project_id=project_id, description=f"workspace token ({project_id})")
