"""The egress request state machine: the only code that changes a request's status.

Each transition is a row of :data:`MACHINE` (a :class:`spe.domain.statemachine.StateMachine`):
the states it leaves from, the state it goes to, who performs it and the audit action it
writes. Who may act is decided apart from what
the state allows: ``check_actor`` (requester, independent reviewer, staff, the platform: in
:mod:`spe.airlock.permissions`) and
``check_state``; ``check_can_transition`` raises from both and ``can_transition`` answers yes
or no from the same rules, as ``check_can_vote``/``can_vote`` do for votes. Every function
that changes something appends its audit event in the caller's transaction.

Review rules: each releasable file needs ``approvals_required`` approvals (from the permit's
policy pack, default 2) on its current version from independent reviewers: never the
requester, and nobody named in the permit unless the pack allows it. A reviewer votes once
per file version, on the exact bytes (the vote names the sha256 they saw); replacing a file
starts a new version, so its earlier votes no longer count. Votes are blind: nobody sees
another's vote on a file until that file has all its votes. Approving a file whose automated
check failed needs a written justification; returning or rejecting a request needs a public
comment. When every releasable file is approved the request is approved; a reviewer then
releases it (signed manifest), and staff can revoke the release, which stops downloads.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from spe.airlock.intake import StagedFile
from spe.airlock.models import (
    Decision,
    EgressFile,
    EgressRelease,
    EgressRequest,
    EgressVote,
    RequestStatus,
)
from spe.airlock.permissions import REQUESTER, REVIEWER, STAFF, SYSTEM, check_actor
from spe.audit import record
from spe.db.types import utcnow
from spe.domain.permits import Permit
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.domain.statemachine import StateMachine, Transition
from spe.errors import Conflict, Forbidden, InvalidInput, NotFound
from spe.messages import Message

S = RequestStatus
OPEN = frozenset({S.submitted, S.checked, S.in_review, S.changes_requested, S.approved})
REVIEWABLE = frozenset({S.checked, S.in_review})
AWAITING_REVIEW = REVIEWABLE
FAILED_CHECK = "fail"


MACHINE = StateMachine("request", "egress.invalid_transition",
                       start=(S.submitted, f"submit ({REQUESTER})"), table=(
    Transition("check", frozenset({S.submitted}), S.checked, "egress.request.check", SYSTEM),
    Transition("start_review", frozenset({S.checked}), S.in_review, "egress.request.review",
               REVIEWER),
    Transition("return", REVIEWABLE, S.changes_requested, "egress.request.return", REVIEWER,
               needs_reason=True),
    Transition("resubmit", frozenset({S.changes_requested}), S.submitted,
               "egress.request.resubmit", REQUESTER),
    Transition("approve", frozenset({S.in_review}), S.approved, "egress.request.approve",
               REVIEWER),
    Transition("reject", REVIEWABLE, S.rejected, "egress.request.reject", REVIEWER,
               needs_reason=True),
    Transition("release", frozenset({S.approved}), S.released, "egress.request.release",
               REVIEWER),
    Transition("withdraw", OPEN, S.withdrawn, "egress.request.withdraw", REQUESTER),
    Transition("revoke", frozenset({S.released}), S.revoked, "egress.release.revoke", STAFF,
               needs_reason=True),
))
TRANSITIONS = MACHINE.transitions

# -- what the state allows -----------------------------------------------------------------

def check_state(request: EgressRequest, transition: Transition) -> None:
    MACHINE.check(transition.name, request.status, request.id)


def check_can_transition(request: EgressRequest, name: str, principal: Principal,
                         members: Iterable[str], comment: str | None = None) -> Transition:
    transition = MACHINE[name]
    check_actor(request, transition.who, principal, members)
    check_state(request, transition)
    if transition.needs_reason and not (comment or "").strip():
        raise InvalidInput(Message("to {name} a request, say why in a comment the requester "
                                   "sees", name=name),
                           code="egress.comment_required")
    return transition


def can_transition(request: EgressRequest, name: str, principal: Principal,
                   members: Iterable[str]) -> bool:
    try:
        check_can_transition(request, name, principal, members, comment="(asking)")
    except (Forbidden, Conflict):
        return False
    return True


def check_can_vote(request: EgressRequest, file: EgressFile, current_votes: list[EgressVote],
                   principal: Principal, members: Iterable[str], decision: Decision,
                   sha256: str, comment: str = "", justification: str | None = None) -> None:
    check_actor(request, REVIEWER, principal, members)  # spe.airlock.permissions
    if request.status not in REVIEWABLE:
        raise Conflict(Message("request {request_id} is {request_status}; votes are taken "
                               "while it is checked or in review", request_id=request.id,
                               request_status=request.status.value), code="egress.not_in_review")
    if file.checker_only:
        raise Conflict(Message("{file_name} is material for checkers and is never released; "
                               "it takes no votes", file_name=file.name),
                       code="egress.checker_only")
    if sha256 != file.sha256:
        raise Conflict(Message("{file_name} changed (now version {file_version}, sha256 "
                               "{file_sha256}); review the current content and vote on it",
                               file_name=file.name, file_version=file.version,
                               file_sha256=file.sha256),
                       code="egress.file_changed")
    if any(v.reviewer_id == principal.user_id for v in current_votes):
        raise Conflict(Message("you have already voted on version {file_version} of "
                               "{file_name}", file_version=file.version, file_name=file.name),
                       code="egress.already_voted")
    if len(current_votes) >= request.approvals_required:
        raise Conflict(Message("{file_name} already has its {approvals_required} votes",
                               file_name=file.name, approvals_required=request.approvals_required),
                       code="egress.quorum_reached")
    if decision is Decision.approve and file.outcome == FAILED_CHECK \
            and not (justification or "").strip():
        raise InvalidInput(Message("{file_name} failed the automated checks; approving it "
                                   "needs a written justification", file_name=file.name),
                           code="egress.justification_required")
    if decision is not Decision.approve and not comment.strip():
        raise InvalidInput(Message("say what must change, or why it is rejected, in a comment"),
                           code="egress.comment_required")


def can_vote(request: EgressRequest, file: EgressFile, current_votes: list[EgressVote],
             principal: Principal, members: Iterable[str]) -> bool:
    try:
        check_can_vote(request, file, current_votes, principal, members, Decision.approve,
                       file.sha256, justification="(asking)")
    except (Forbidden, Conflict):
        return False
    return True


# -- reading -------------------------------------------------------------------------------

def get_request(session: Session, request_id: str) -> EgressRequest:
    request = session.get(EgressRequest, request_id)
    if request is None:
        raise NotFound(Message("no egress request {request_id!r}", request_id=request_id),
                       code="egress.not_found")
    return request


def files_of(session: Session, request_id: str) -> list[EgressFile]:
    return list(session.exec(select(EgressFile).where(EgressFile.request_id == request_id)
                             .order_by(EgressFile.name)))


def get_file(session: Session, request: EgressRequest, file_id: str) -> EgressFile:
    file = session.get(EgressFile, file_id)
    if file is None or file.request_id != request.id:
        raise NotFound(Message("no file {file_id!r} in request {request_id}", file_id=file_id,
                               request_id=request.id), code="egress.not_found")
    return file


def current_votes(session: Session, file: EgressFile) -> list[EgressVote]:
    return list(session.exec(select(EgressVote).where(EgressVote.file_id == file.id,
                                                      EgressVote.file_version == file.version)
                             .order_by(EgressVote.id)))


def release_of(session: Session, request_id: str) -> EgressRelease | None:
    return session.exec(select(EgressRelease)
                        .where(EgressRelease.request_id == request_id)).first()


# -- changes ---------------------------------------------------------------------------------

def check_can_submit(project: Project, principal: Principal, staged: list[StagedFile]) -> None:
    """Raise unless ``principal`` may submit ``staged`` to ``project``."""
    if Role.researcher not in principal.roles or principal.user_id is None:
        raise Forbidden(Message("submitting needs the role researcher"), code="egress.forbidden")
    if principal.project_id not in (None, project.id):
        raise Forbidden(Message("this token is scoped to another project"),
                        code="egress.wrong_project")
    if not staged:
        raise InvalidInput(Message("a request holds at least one file"), code="egress.no_files")
    if all(f.checker_only for f in staged):
        raise InvalidInput(Message("nothing to release: every file is material for checkers "
                                   "(SDC sidecars, ACRO session files)"),
                           code="egress.nothing_to_release")


def create_request(session: Session, project: Project, permit: Permit, principal: Principal,
                   title: str, pack: dict, approvals_required: int, members_may_review: bool,
                   staged: list[StagedFile]) -> EgressRequest:
    """Record a submitted request and its (already quarantined) files."""
    check_can_submit(project, principal, staged)
    request = EgressRequest(project_id=project.id, permit_id=permit.id,
                            permit_reference=permit.reference, requester_id=principal.user_id,
                            requester_subject=principal.subject, title=title,
                            pack_name=pack["name"], pack_version=str(pack["version"]),
                            approvals_required=approvals_required,
                            members_may_review=members_may_review)
    session.add(request)
    session.flush()
    for f in staged:
        session.add(EgressFile(request_id=request.id, name=f.name, description=f.description,
                               sha256=f.sha256, size=f.size, checker_only=f.checker_only))
    session.flush()
    _audit(session, request, "egress.request.submit", principal,
           {"files": len(staged), "bytes": sum(f.size for f in staged),
            "pack": request.pack_name})
    return request


def record_checks(session: Session, request: EgressRequest, records: dict[str, dict],
                  principal: Principal) -> EgressRequest:
    """Store each file's check record and move the request to ``checked``."""
    transition = check_can_transition(request, "check", principal, ())
    files = files_of(session, request.id)
    missing = sorted(f.name for f in files if f.name not in records)
    if missing:
        raise InvalidInput(Message("no check record for {missing}", missing=', '.join(missing)),
                           code="egress.check_missing")
    outcomes: dict[str, int] = {}
    for file in files:
        file.check = records[file.name]
        file.outcome = records[file.name]["outcome"]
        outcomes[file.outcome] = outcomes.get(file.outcome, 0) + 1
        session.add(file)
    _apply(session, request, transition, principal, details={"outcomes": outcomes})
    return request


def cast_vote(session: Session, request: EgressRequest, file: EgressFile,
              principal: Principal, members: Iterable[str], decision: Decision, sha256: str,
              comment: str = "", justification: str | None = None) -> EgressVote:
    members = set(members)
    votes = current_votes(session, file)
    check_can_vote(request, file, votes, principal, members, decision, sha256, comment,
                   justification)
    vote = EgressVote(file_id=file.id, file_version=file.version, sha256=file.sha256,
                      reviewer_id=principal.user_id, reviewer_subject=principal.subject,
                      decision=decision, comment=comment.strip(),
                      justification=(justification or "").strip() or None)
    session.add(vote)
    session.flush()
    record(session, action="egress.file.vote", actor=principal.actor(),
           target_type="egress_file", target_id=file.id, project_id=request.project_id,
           details={"request_id": request.id, "version": file.version,
                    "decision": decision.value, "justified": vote.justification is not None})
    if request.status is S.checked:
        _apply(session, request, TRANSITIONS["start_review"], principal)
    if _all_approved(session, request):
        _apply(session, request, TRANSITIONS["approve"], principal)
    return vote


def _all_approved(session: Session, request: EgressRequest) -> bool:
    for file in files_of(session, request.id):
        if file.checker_only:
            continue
        approvals = [v for v in current_votes(session, file) if v.decision is Decision.approve]
        if len(approvals) < request.approvals_required:
            return False
    return True


def send_back(session: Session, request: EgressRequest, transition_name: str,
              principal: Principal, members: Iterable[str], comment: str) -> EgressRequest:
    """A checker's ``return`` (for changes) or ``reject``, with its public comment."""
    transition = check_can_transition(request, transition_name, principal, members, comment)
    request.status_comment = comment.strip()
    _apply(session, request, transition, principal)
    return request


def withdraw_request(session: Session, request: EgressRequest, principal: Principal,
                     reason: str = "") -> EgressRequest:
    transition = check_can_transition(request, "withdraw", principal, ())
    request.status_comment = reason.strip() or None
    _apply(session, request, transition, principal)
    return request


def replace_file(session: Session, request: EgressRequest, file: EgressFile,
                 staged: StagedFile, principal: Principal) -> EgressFile:
    """A new version of a file, in answer to ``changes_requested``: its votes start over."""
    check_actor(request, REQUESTER, principal, ())
    if request.status is not S.changes_requested:
        raise Conflict(Message("files change only when changes were requested; request "
                               "{request_id} is {request_status}", request_id=request.id,
                               request_status=request.status.value), code="egress.not_returned")
    if staged.name != file.name:
        raise InvalidInput(Message("the new version must keep the name {file_name}",
                                   file_name=file.name),
                           code="egress.name_changed")
    if staged.sha256 == file.sha256:
        raise Conflict(Message("{file_name}: the new version is identical to the current one",
                               file_name=file.name),
                       code="egress.file_unchanged")
    file.version += 1
    file.sha256, file.size = staged.sha256, staged.size
    file.description = staged.description or file.description
    file.check, file.outcome, file.updated_at = None, None, utcnow()
    session.add(file)
    record(session, action="egress.file.replace", actor=principal.actor(),
           target_type="egress_file", target_id=file.id, project_id=request.project_id,
           details={"request_id": request.id, "version": file.version, "sha256": file.sha256})
    return file


def resubmit_request(session: Session, request: EgressRequest,
                     principal: Principal) -> EgressRequest:
    transition = check_can_transition(request, "resubmit", principal, ())
    _apply(session, request, transition, principal)
    return request


def mark_released(session: Session, request: EgressRequest, principal: Principal,
                  members: Iterable[str], release: EgressRelease) -> EgressRequest:
    """Record a release built by :mod:`egress.release` (call :func:`check_can_transition`
    with ``"release"`` before building it)."""
    transition = check_can_transition(request, "release", principal, members)
    session.add(release)
    session.flush()
    _apply(session, request, transition, principal, details={"release_id": release.id})
    return request


def revoke_release(session: Session, release: EgressRelease, principal: Principal,
                   reason: str) -> EgressRelease:
    request = get_request(session, release.request_id)
    transition = check_can_transition(request, "revoke", principal, (), reason)
    release.revoked_at = utcnow()
    release.revoke_reason = reason.strip()
    session.add(release)
    request.status_comment = reason.strip()
    _apply(session, request, transition, principal, details={"release_id": release.id})
    return release


def _apply(session: Session, request: EgressRequest, transition: Transition,
           principal: Principal, details: dict | None = None) -> None:
    """Change the status and append the audit event, in the caller's transaction."""
    request.updated_at = utcnow()
    MACHINE.apply(session, request, transition.name, actor=principal.actor(),
                  target_type="egress_request", target_id=request.id,
                  project_id=request.project_id, details=details)


def _audit(session: Session, request: EgressRequest, action: str, principal: Principal,
           details: dict) -> None:
    record(session, action=action, actor=principal.actor(), target_type="egress_request",
           target_id=request.id, project_id=request.project_id, details=details)


def state_diagram() -> str:
    """A Mermaid state diagram generated from :data:`MACHINE` (used in docs/egress.md)."""
    return MACHINE.diagram(label=lambda t: f"{t.name} ({t.who})")
