"""Who may do what in the airlock: each rule written once, with a yes-or-no twin.

``check_can_*`` raises (:class:`Forbidden`, or a :class:`Conflict` for a frozen airlock or a
revoked release); ``can_*`` answers the same question from the same code, for pages and
views that decide what to show. Rules that depend only on a request's state (which
transition applies now, whether a file may still take a vote) are in
:mod:`spe.airlock.review`, which asks this module who is acting.

Whether a person may use a project at all is :mod:`spe.domain.access`'s rule, the one the
hubs and the project listing ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlmodel import Session

from spe.airlock.models import EgressRelease, EgressRequest, RequestStatus
from spe.domain.access import get_visible_project
from spe.domain.permits import Permit, get_permit
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.errors import Conflict, Forbidden, SpeError
from spe.messages import Message

REQUESTER = "requester"  # the researcher who submitted the request
REVIEWER = "reviewer"  # an independent output checker
STAFF = "staff"  # output checkers and admins acting on an incident
SYSTEM = "system"  # the platform itself (automated checks)

STAFF_ROLES = frozenset({Role.output_checker, Role.admin})
RELEASE_READERS = frozenset({Role.output_checker, Role.auditor, Role.admin})


class AirlockFrozen(Conflict):
    """The request's permit is suspended or ended: nothing is released or downloaded."""

    default_code = "egress.permit_inactive"


class ReleaseRevoked(Conflict):
    """The release was revoked: nothing of it is served any more."""

    status = 410
    default_code = "egress.release_revoked"


def _answer(check: Callable[[], object]) -> bool:
    try:
        check()
    except SpeError:
        return False
    return True


# -- the project -----------------------------------------------------------------------------

def check_can_use_project(session: Session, project_id: str,
                          principal: Principal) -> tuple[Project, Permit]:
    """The project, if ``principal`` is a researcher who may enter it now (404 otherwise: a
    project one may not enter is not shown); a token scoped to another project is refused."""
    if principal.project_id not in (None, project_id):
        raise Forbidden(Message("this token is scoped to another project"),
                        code="egress.wrong_project")
    return get_visible_project(session, project_id, principal.subject,
                               frozenset({Role.researcher}) & principal.roles)


def can_use_project(session: Session, project_id: str, principal: Principal) -> bool:
    return _answer(lambda: check_can_use_project(session, project_id, principal))


def check_airlock_open(session: Session, request: EgressRequest) -> None:
    """Refuse (409) while the request's permit is not active; votes are still taken, and the
    airlock reopens when the permit is resumed."""
    permit = get_permit(session, request.permit_id)
    if not permit.is_active():
        raise AirlockFrozen(Message("permit {reference} is {status}: releases and downloads "
                                    "are frozen until the permit is active again",
                                    reference=permit.reference,
                                    status=permit.effective_status().value))


def airlock_open(session: Session, request: EgressRequest) -> bool:
    return _answer(lambda: check_airlock_open(session, request))


# -- acting on a request ----------------------------------------------------------------------

def check_actor(request: EgressRequest, actor: str, principal: Principal,
                members: Iterable[str]) -> None:
    """Raise :class:`Forbidden` unless ``principal`` may act as ``actor`` on ``request``."""
    if actor == SYSTEM:
        if principal.via != "system":
            raise Forbidden(Message("only the platform performs this step"),
                            code="egress.forbidden")
    elif actor == REQUESTER:
        if principal.user_id != request.requester_id or Role.researcher not in principal.roles:
            raise Forbidden(Message("only the researcher who submitted the request may do this"),
                            code="egress.not_requester")
        if principal.project_id not in (None, request.project_id):
            raise Forbidden(Message("this token is scoped to another project"),
                            code="egress.wrong_project")
    elif actor == REVIEWER:
        check_can_review(request, principal, members)
    elif not principal.has_any(STAFF_ROLES):
        raise Forbidden(Message("needs the role output_checker or admin"), code="egress.forbidden")


def can_act(request: EgressRequest, actor: str, principal: Principal,
            members: Iterable[str]) -> bool:
    return _answer(lambda: check_actor(request, actor, principal, members))


def check_can_review(request: EgressRequest, principal: Principal,
                     members: Iterable[str]) -> None:
    """An independent output checker: never the requester, and nobody the permit names
    unless the policy pack allows it."""
    if Role.output_checker not in principal.roles:
        raise Forbidden(Message("reviewing needs the role output_checker"), code="egress.forbidden")
    if principal.user_id == request.requester_id:
        raise Forbidden(Message("the requester can never review their own request"),
                        code="egress.self_review")
    if principal.subject in set(members) and not request.members_may_review:
        raise Forbidden(Message("people named in the permit may not review its outputs "
                                "(independent checking)"), code="egress.not_independent")


def can_review(request: EgressRequest, principal: Principal, members: Iterable[str]) -> bool:
    return _answer(lambda: check_can_review(request, principal, members))


# -- reading -----------------------------------------------------------------------------------

def check_can_read_request(session: Session, request: EgressRequest,
                           principal: Principal) -> None:
    """Output checkers (outside a workspace) read any request; a researcher those of a
    project they may use."""
    if Role.output_checker not in principal.roles or principal.project_id is not None:
        check_can_use_project(session, request.project_id, principal)


def can_read_request(session: Session, request: EgressRequest, principal: Principal) -> bool:
    return _answer(lambda: check_can_read_request(session, request, principal))


def sees_review(request: EgressRequest, principal: Principal) -> bool:
    """Whether ``principal`` reads ``request`` as a checker (check records, their own vote,
    the votes once complete): an output checker outside a workspace, not its requester."""
    return Role.output_checker in principal.roles and principal.project_id is None \
        and principal.user_id != request.requester_id


def check_can_view_file(principal: Principal) -> None:
    """A file in quarantine is opened by output checkers only (and each opening audited)."""
    if Role.output_checker not in principal.roles:
        raise Forbidden(Message("viewing quarantined files needs the role output_checker"),
                        code="egress.forbidden")


def can_view_file(principal: Principal) -> bool:
    return _answer(lambda: check_can_view_file(principal))


def check_can_read_release(session: Session, release: EgressRelease,
                           principal: Principal) -> None:
    """Checkers and auditors read any release; a researcher the releases of their project."""
    if not principal.has_any(RELEASE_READERS):
        check_can_use_project(session, release.project_id, principal)


def can_read_release(session: Session, release: EgressRelease, principal: Principal) -> bool:
    return _answer(lambda: check_can_read_release(session, release, principal))


def check_can_download(session: Session, release: EgressRelease, request: EgressRequest,
                       principal: Principal) -> None:
    """The requester downloads, outside the workspace, while the permit is active and the
    release stands."""
    if principal.project_id is not None:
        raise Forbidden(Message("released files are downloaded outside the workspace, with a "
                                "personal token, not a workspace token"),
                        code="egress.scoped_token")
    if principal.user_id != request.requester_id:
        raise Forbidden(Message("only the requester downloads a release"),
                        code="egress.not_requester")
    check_airlock_open(session, request)
    check_can_use_project(session, release.project_id, principal)
    if release.revoked_at is not None or request.status is not RequestStatus.released:
        raise ReleaseRevoked(Message("release {release_id} was revoked: {revoke_reason}",
                                     release_id=release.id, revoke_reason=release.revoke_reason))


def can_download(session: Session, release: EgressRelease, request: EgressRequest,
                 principal: Principal) -> bool:
    return _answer(lambda: check_can_download(session, release, request, principal))
