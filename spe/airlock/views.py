"""What each caller may see of a request: the response models and the blind-vote rule.

An output checker sees every file's check record (ACRO's statuses and flagged cells
included), their own vote, and the other votes on a file only once that file has all its
votes (blind review). The researcher sees the status, the public comment and the check
outcomes of their files, never the reviewers' votes (the signed manifest lists them once
released).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from spe.airlock import permissions, review
from spe.airlock.models import Decision, EgressFile, EgressRequest, EgressVote, RequestStatus
from spe.domain.permits import PermitMember, members_of
from spe.domain.principal import Principal


class VotePublic(BaseModel):
    reviewer: str
    decision: Decision
    comment: str
    justification: str | None
    version: int
    at: datetime


class FilePublic(BaseModel):
    id: str
    name: str
    description: str
    sha256: str
    size: int
    version: int
    checker_only: bool
    outcome: str | None
    check: dict | None
    my_vote: VotePublic | None = None
    votes: list[VotePublic] | None = None
    votes_complete: bool = False
    can_vote: bool = False


class RequestPublic(BaseModel):
    id: str
    project_id: str
    permit_reference: str
    requester: str
    title: str
    status: RequestStatus
    status_comment: str | None
    pack_name: str
    pack_version: str
    approvals_required: int
    release_id: str | None
    allowed_actions: list[str]
    files: list[FilePublic]
    created_at: datetime
    updated_at: datetime


def request_view(session: Session, request: EgressRequest,
                 principal: Principal) -> RequestPublic:
    members = members_of(session, request.permit_id)
    checker = permissions.sees_review(request, principal)
    files = [_file_view(session, request, f, principal, members, checker)
             for f in review.files_of(session, request.id)]
    release = review.release_of(session, request.id)
    actions = [name for name in review.TRANSITIONS
               if review.can_transition(request, name, principal, members)]
    return RequestPublic(
        **request.model_dump(include={"id", "project_id", "permit_reference", "title",
                                      "status", "status_comment", "pack_name", "pack_version",
                                      "approvals_required", "created_at", "updated_at"}),
        requester=request.requester_subject, release_id=release.id if release else None,
        allowed_actions=actions, files=files)


def _file_view(session: Session, request: EgressRequest, file: EgressFile,
               principal: Principal, members: list[str], checker: bool) -> FilePublic:
    view = FilePublic(**file.model_dump(include={"id", "name", "description", "sha256", "size",
                                                 "version", "checker_only", "outcome",
                                                 "check"}))
    if not checker:
        return view
    votes = review.current_votes(session, file)
    complete = len(votes) >= request.approvals_required
    mine = next((v for v in votes if v.reviewer_id == principal.user_id), None)
    view.my_vote = _vote(mine) if mine else None
    view.votes = [_vote(v) for v in votes] if complete else None
    view.votes_complete = complete
    view.can_vote = review.can_vote(request, file, votes, principal, members)
    return view


def _vote(vote: EgressVote) -> VotePublic:
    return VotePublic(reviewer=vote.reviewer_subject, decision=vote.decision,
                      comment=vote.comment, justification=vote.justification,
                      version=vote.file_version, at=vote.at)


@dataclass(frozen=True)
class QueueEntry:
    """A request as the checkers' queue shows it: its votable files and how far review is."""

    request: EgressRequest
    files: int
    complete: int
    waiting_for_me: bool
    outcomes: Counter


def queue_entries(session: Session, requests: list[EgressRequest],
                  principal: Principal) -> list[QueueEntry]:
    """The queue's line for each of ``requests`` in three queries whatever their number
    (files, current votes, permit members), with the same vote rule as the request view."""
    ids = [r.id for r in requests]
    files = defaultdict(list)
    for file in session.exec(select(EgressFile).options(defer(EgressFile.check))
                             .where(col(EgressFile.request_id).in_(ids),
                                    EgressFile.checker_only == False)  # noqa: E712
                             .order_by(EgressFile.name)):
        files[file.request_id].append(file)
    votes = defaultdict(list)
    for vote in session.exec(select(EgressVote)
                             .join(EgressFile, EgressFile.id == EgressVote.file_id)
                             .where(col(EgressFile.request_id).in_(ids),
                                    EgressVote.file_version == EgressFile.version)
                             .order_by(EgressVote.id)):
        votes[vote.file_id].append(vote)
    members = defaultdict(list)
    for permit_id, subject in session.exec(
            select(PermitMember.permit_id, PermitMember.subject)
            .where(col(PermitMember.permit_id).in_({r.permit_id for r in requests}))):
        members[permit_id].append(subject)
    entries = []
    for request in requests:
        mine = files[request.id]
        checker = permissions.sees_review(request, principal)
        entries.append(QueueEntry(
            request=request, files=len(mine),
            complete=sum(len(votes[f.id]) >= request.approvals_required for f in mine),
            waiting_for_me=checker and any(
                review.can_vote(request, f, votes[f.id], principal, members[request.permit_id])
                for f in mine),
            outcomes=Counter(f.outcome or "unknown" for f in mine)))
    return entries
