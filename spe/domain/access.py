"""Who may enter a project now, and if not, why: the rule written once.

Entering a project (signing in to its hub, receiving a workspace token, submitting its outputs,
seeing it as a researcher) needs a person, a second factor when the deployment asks for one,
the researcher role, to be named in the project's permit, and the permit in force now.

The conditions on the permit are rows of :data:`IN_FORCE`, each with its Python predicate,
its SQL clause and the reason a refused person is shown. :func:`refusal` walks them in Python
and names the first that fails; :func:`enterable` joins their SQL clauses for the queries
(:func:`visible_projects_query`); ``tests/domain/test_access.py`` checks that the two agree on
every status and every position in time. Staff roles see every project
(:data:`SEES_ALL_PROJECTS`) but enter none: a workspace is for the people its permit names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import and_, exists, false
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from spe.db.types import utcnow
from spe.domain.permits import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    Permit,
    PermitMember,
    PermitStatus,
)
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.errors import Forbidden, NotFound
from spe.messages import Message

# Roles that see every project; a researcher sees only the projects they may enter, and any
# other project is "not found" to them.
SEES_ALL_PROJECTS = frozenset({Role.admin, Role.permit_manager, Role.data_steward,
                               Role.auditor, Role.output_checker})


class Why(StrEnum):
    """The kind of a refusal (what a page can advise), beside its reason (what it says)."""

    not_person = "not_person"
    mfa = "mfa"
    not_researcher = "not_researcher"
    no_project = "no_project"
    not_named = "not_named"
    permit_not_in_force = "permit_not_in_force"


@dataclass(frozen=True)
class Refused:
    why: Why
    reason: Message
    permit: Permit | None = None  # shown only to the people the permit names


@dataclass(frozen=True)
class Condition:
    """One condition on the permit, in both forms, and what a refused person reads."""

    holds: Callable[[Permit, datetime], bool]
    clause: Callable[[datetime], ColumnElement[bool]]
    reason: Callable[[Permit], Message]


# One sentence per state, so that a language with genders can agree the adjective.
NOT_IN_FORCE = {PermitStatus.suspended: Message("the permit is suspended"),
                PermitStatus.revoked: Message("the permit is revoked"),
                PermitStatus.expired: Message("the permit is expired")}


def _state(permit: Permit) -> Message:
    return NOT_IN_FORCE.get(permit.status) or Message(
        "the permit is {status}", status=Message(permit.status.value))


def _values(statuses) -> list[str]:
    return sorted(s.value for s in statuses)


IN_FORCE: tuple[Condition, ...] = (
    Condition(lambda p, now: p.status not in ENDED_STATUSES,
              lambda now: Permit.status.not_in(_values(ENDED_STATUSES)),
              _state),
    Condition(lambda p, now: now < p.valid_until,
              lambda now: Permit.valid_until > now,
              lambda p: Message("the permit is expired")),
    Condition(lambda p, now: p.status in ACTIVE_STATUSES,  # what is left: suspended
              lambda now: Permit.status.in_(_values(ACTIVE_STATUSES)),
              _state),
    Condition(lambda p, now: p.valid_from <= now,
              lambda now: Permit.valid_from <= now,
              lambda p: Message("the permit is not valid yet")),
)


# --- the Python form ------------------------------------------------------------------------

def permit_refusal(permit: Permit, now: datetime | None = None) -> Message | None:
    """Why ``permit`` lets nobody in now, or None while it is in force."""
    now = now or utcnow()
    return next((c.reason(permit) for c in IN_FORCE if not c.holds(permit, now)), None)


def refusal(session: Session, principal: Principal, project_id: str, *,
            require_mfa: bool = False, now: datetime | None = None) -> Refused | None:
    """Why ``principal`` may not enter ``project_id`` now, or None if they may."""
    if principal.user_id is None:
        return Refused(Why.not_person, Message("not a person"))
    if require_mfa and not principal.mfa:
        return Refused(Why.mfa, Message("MFA required: sign in again with a second factor"))
    if Role.researcher not in principal.roles:
        return Refused(Why.not_researcher, Message("the researcher role is required"))
    permit = session.exec(select(Permit).join(Project, Project.permit_id == Permit.id)
                          .where(Project.id == project_id)).first()
    if permit is None:
        return Refused(Why.no_project, Message("no such project"))
    if session.get(PermitMember, (permit.id, principal.subject)) is None:
        return Refused(Why.not_named, Message("not named in the project's permit"))
    reason = permit_refusal(permit, now)
    return Refused(Why.permit_not_in_force, reason, permit) if reason else None


def check_can_enter(session: Session, principal: Principal, project_id: str, *,
                    require_mfa: bool = False, now: datetime | None = None) -> None:
    """Raise :class:`Forbidden` with the reason unless ``principal`` may enter now."""
    refused = refusal(session, principal, project_id, require_mfa=require_mfa, now=now)
    if refused is not None:
        raise Forbidden(Message("{subject} may not enter project {project_id}: {reason}",
                                subject=principal.subject, project_id=project_id,
                                reason=refused.reason), code="project.not_permitted")


def can_enter(session: Session, principal: Principal, project_id: str, *,
              require_mfa: bool = False, now: datetime | None = None) -> bool:
    return refusal(session, principal, project_id, require_mfa=require_mfa, now=now) is None


# --- the SQL form ---------------------------------------------------------------------------

def in_force(now: datetime) -> ColumnElement[bool]:
    """The conditions of :data:`IN_FORCE` as one clause on ``Permit``."""
    return and_(*(c.clause(now) for c in IN_FORCE))


def enterable(subject: str, roles: frozenset[Role], now: datetime) -> ColumnElement[bool]:
    """The permits whose project ``subject``, holding ``roles``, may enter now (a person
    with a second factor when one is required: those are decided before the query)."""
    if Role.researcher not in roles:
        return false()
    named = exists().where(PermitMember.permit_id == Permit.id,
                           PermitMember.subject == subject)
    return and_(named, in_force(now))


def visible_projects_query(subject: str, roles: frozenset[Role], now: datetime | None = None):
    """(Project, Permit) rows ``subject`` may see: every one for staff, else those they may
    enter."""
    now = now or utcnow()
    query = select(Project, Permit).join(Permit, Permit.id == Project.permit_id)
    if roles & SEES_ALL_PROJECTS:
        return query
    return query.where(enterable(subject, roles, now))


def get_visible_project(session: Session, project_id: str, subject: str,
                        roles: frozenset[Role]) -> tuple[Project, Permit]:
    row = session.exec(visible_projects_query(subject, roles)
                       .where(Project.id == project_id)).first()
    if row is None:
        raise NotFound(Message("no project {project_id!r}", project_id=project_id),
                       code="project.not_found")
    return row

