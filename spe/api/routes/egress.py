"""The egress airlock: researchers submit outputs, output checkers review, releases download.

Routes parse, authorise and call one function of :mod:`spe.airlock`. A refusal by the
workflow (a rule of the review, a limit of the policy pack) is audited with outcome
``denied`` in its own transaction, after the request's own changes are rolled back.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import select

from egress.neutralise import neutralise_csv
from egress.release import PROFILE
from spe.airlock import permissions, releases, review, submission
from spe.airlock.models import Decision, EgressRequest, RequestStatus
from spe.airlock.replay import Bounds, Replays
from spe.airlock.tokens import issue_workspace_token
from spe.airlock.views import RequestPublic, request_view
from spe.api import changes
from spe.api.body_limit import EGRESS_REPLACEMENT_BYTES, EGRESS_SUBMISSION_BYTES
from spe.api.deps import (
    SessionDep,
    allow,
    allow_anyone,
    allow_component,
)
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.api.platform import (
    DataPlaneDep,
    ObjectStoreDep,
    ReleaseKeyDep,
    SettingsDep,
    StagingDep,
    platform,
)
from spe.audit import record
from spe.auth.tokens import ApiTokenCreated, ApiTokenPublic
from spe.crypto.signing import public_key_pem
from spe.domain.permits import members_of
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.errors import InvalidInput
from spe.messages import Message
from spe.storage import ObjectStore

router = APIRouter(prefix="/api/v1", tags=["egress"])
Hub = Annotated[Principal, allow_component("hub")]
Researcher = Annotated[Principal, allow(Role.researcher, project_scoped=True)]
PersonalResearcher = Annotated[Principal, allow(Role.researcher)]
Checker = Annotated[Principal, allow(Role.output_checker)]
Staff = Annotated[Principal, allow(Role.output_checker, Role.admin)]
Reader = Annotated[Principal, allow(Role.researcher, Role.output_checker,
                                    project_scoped=True)]
ReleaseReader = Annotated[Principal, allow(Role.researcher, Role.output_checker,
                                           Role.auditor)]


def object_store(request: Request) -> ObjectStore:
    """The platform's object store (``SPE_STORAGE_*``): quarantine and releases live beside
    the extracts, so every replica sees the same files."""
    return platform(request).object_store


Store = ObjectStoreDep
Staging = StagingDep


def replays(plane: DataPlaneDep, settings: SettingsDep) -> Replays:
    """Replays of analysis-library tables on the project's extract, through the
    application's data plane, within the settings' bounds."""
    return Replays(plane, Bounds.of(settings))


ReplaysDep = Annotated[Replays, Depends(replays)]


class WorkspaceTokenRequest(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="Subject of the researcher.")


class Comment(BaseModel):
    comment: str = Field(default="", max_length=5000,
                         description="Required, and public: the requester sees it.")


class Withdrawal(BaseModel):
    reason: str = Field(default="", max_length=5000)


class VoteBody(BaseModel):
    decision: Decision
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$",
                        description="The content you reviewed; refused if the file changed.")
    comment: str = Field(default="", max_length=5000)
    justification: str | None = Field(default=None, max_length=5000,
                                      description="Required to approve a file that failed "
                                      "the automated checks.")


class ReleasePublic(BaseModel):
    id: str
    request_id: str
    project_id: str
    manifest: dict
    signature: str
    signing_key_id: str
    crate: dict
    revoked: bool
    revoke_reason: str | None


class ReleaseKey(BaseModel):
    key_id: str
    public_key_pem: str
    algorithm: str = "Ed25519"
    profile: str = PROFILE


# -- workspace ------------------------------------------------------------------------------

@router.post("/projects/{project_id}/workspace-token", status_code=201,
             summary="A short-lived project-scoped token for a researcher (project hub only)")
def workspace_token(project_id: str, body: WorkspaceTokenRequest, principal: Hub,
                    session: SessionDep, http: Request, settings: SettingsDep) -> ApiTokenCreated:
    ttl = timedelta(minutes=settings.egress.workspace_token_ttl_minutes)
    with changes.run(session, principal, "egress.workspace_token.create", "project",
                     project_id):
        token, secret = issue_workspace_token(session, project_id, body.user, principal, ttl)
    return ApiTokenCreated(**ApiTokenPublic.model_validate(token, from_attributes=True)
                           .model_dump(), token=secret)


# -- researchers ----------------------------------------------------------------------------

@router.post("/projects/{project_id}/egress-requests", status_code=201,
             summary="Submit outputs for review (multipart: files, one description each)",
             max_body_size=EGRESS_SUBMISSION_BYTES)
def submit(project_id: str, principal: Researcher, session: SessionDep, store: Store,
           staged_in: Staging, replayer: ReplaysDep, http: Request,
           title: Annotated[str, Form(min_length=1, max_length=300)],
           files: Annotated[list[UploadFile], File(description="The files; a name may hold "
                                                   "folders, e.g. acro_out/results.json.")],
           descriptions: Annotated[list[str], Form(description="What each file is, how it "
                                                   "was produced, which SDC was applied: one "
                                                   "per file, or one for all.")]
           ) -> RequestPublic:
    with changes.run(session, principal, "egress.request.submit", "project",
                     project_id):
        uploads = [submission.Upload(f.filename or "", f.file, d)
                   for f, d in zip(files, _descriptions(descriptions, len(files)), strict=True)]
        request = submission.submit(session, store, staged_in, project_id, principal, title,
                                    uploads, replayer)
    return request_view(session, request, principal)


def _descriptions(descriptions: list[str], count: int) -> list[str]:
    if len(descriptions) == 1:
        descriptions = descriptions * count
    if len(descriptions) != count or not all(d.strip() for d in descriptions):
        raise InvalidInput(Message("give a non-empty description for each file (or one for "
                                   "all)"),
                           code="egress.description_required")
    return [d.strip()[:5000] for d in descriptions]


@router.get("/projects/{project_id}/egress-requests", summary="A project's egress requests")
def list_project_requests(project_id: str, principal: Researcher, session: SessionDep,
                          page: Annotated[PageParams, Depends(page_params)]
                          ) -> Page[RequestPublic]:
    permissions.check_can_use_project(session, project_id, principal)
    query = (select(EgressRequest).where(EgressRequest.project_id == project_id)
             .order_by(EgressRequest.created_at, EgressRequest.id))
    rows, cursor = paginate(session, query, page)
    return Page(items=[request_view(session, r, principal) for r in rows], next=cursor)


@router.put("/egress/requests/{request_id}/files/{file_id}",
            summary="Replace a file while changes are requested (its votes start over)",
            max_body_size=EGRESS_REPLACEMENT_BYTES)
def replace_file(request_id: str, file_id: str, principal: Researcher, session: SessionDep,
                 store: Store, staged_in: Staging, http: Request,
                 file: Annotated[UploadFile, File()],
                 description: Annotated[str, Form(max_length=5000)] = "") -> RequestPublic:
    with changes.run(session, principal, "egress.file.replace", "egress_request",
                     request_id):
        request = review.get_request(session, request_id)
        target = review.get_file(session, request, file_id)
        submission.replace(session, store, staged_in, request, target, principal,
                           submission.Upload(target.name, file.file, description.strip()))
    return request_view(session, request, principal)


@router.post("/egress/requests/{request_id}/resubmit",
             summary="Send a returned request back for review (checks run again)")
def resubmit(request_id: str, principal: Researcher, session: SessionDep, store: Store,
             staged_in: Staging, replayer: ReplaysDep, http: Request) -> RequestPublic:
    with changes.run(session, principal, "egress.request.resubmit",
                     "egress_request", request_id):
        request = review.get_request(session, request_id)
        submission.resubmit(session, store, staged_in, request, principal, replayer)
    return request_view(session, request, principal)


@router.post("/egress/requests/{request_id}/withdraw", summary="Withdraw my request")
def withdraw(request_id: str, body: Withdrawal, principal: Researcher, session: SessionDep,
             http: Request) -> RequestPublic:
    with changes.run(session, principal, "egress.request.withdraw",
                     "egress_request", request_id):
        request = review.get_request(session, request_id)
        review.withdraw_request(session, request, principal, body.reason)
    return request_view(session, request, principal)


@router.get("/egress/requests/{request_id}", summary="Read a request (what I may see of it)")
def read_request(request_id: str, principal: Reader, session: SessionDep) -> RequestPublic:
    request = review.get_request(session, request_id)
    permissions.check_can_read_request(session, request, principal)
    return request_view(session, request, principal)


# -- output checkers --------------------------------------------------------------------------

@router.get("/egress/requests", summary="Requests across projects (default: awaiting review)")
def list_requests(principal: Checker, session: SessionDep,
                  page: Annotated[PageParams, Depends(page_params)],
                  status: Annotated[list[RequestStatus] | None, Query()] = None
                  ) -> Page[RequestPublic]:
    wanted = status or sorted(review.AWAITING_REVIEW)
    query = (select(EgressRequest).where(EgressRequest.status.in_([s.value for s in wanted]))
             .order_by(EgressRequest.updated_at, EgressRequest.id))
    rows, cursor = paginate(session, query, page)
    return Page(items=[request_view(session, r, principal) for r in rows], next=cursor)


FILE = {200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}}}


@router.get("/egress/requests/{request_id}/files/{file_id}/content",
            summary="A file under review, from quarantine (audited)",
            response_class=StreamingResponse, responses=FILE)
def file_content(request_id: str, file_id: str, principal: Checker, session: SessionDep,
                 store: Store, http: Request) -> StreamingResponse:
    with changes.run(session, principal, "egress.file.view", "egress_request",
                     request_id):
        request = review.get_request(session, request_id)
        file = review.get_file(session, request, file_id)
        content = releases.open_quarantined(session, store, request, file, principal)
    return _stream(content, file.name, file.sha256)


@router.post("/egress/requests/{request_id}/files/{file_id}/votes", status_code=201,
             summary="Vote on a file (blind until the file has all its votes)")
def vote(request_id: str, file_id: str, body: VoteBody, principal: Checker,
         session: SessionDep, http: Request) -> RequestPublic:
    with changes.run(session, principal, "egress.file.vote", "egress_request",
                     request_id):
        request = review.get_request(session, request_id)
        file = review.get_file(session, request, file_id)
        review.cast_vote(session, request, file, principal,
                         members_of(session, request.permit_id), body.decision, body.sha256,
                         body.comment, body.justification)
    return request_view(session, request, principal)


@router.post("/egress/requests/{request_id}/return",
             summary="Return a request to the researcher for changes (public comment)")
def return_request(request_id: str, body: Comment, principal: Checker, session: SessionDep,
                   http: Request) -> RequestPublic:
    with changes.run(session, principal, "egress.request.return",
                     "egress_request", request_id):
        request = review.get_request(session, request_id)
        review.send_back(session, request, "return", principal,
                         members_of(session, request.permit_id), body.comment)
    return request_view(session, request, principal)


@router.post("/egress/requests/{request_id}/reject", summary="Reject a request (public comment)")
def reject(request_id: str, body: Comment, principal: Checker, session: SessionDep,
           http: Request) -> RequestPublic:
    with changes.run(session, principal, "egress.request.reject",
                     "egress_request", request_id):
        request = review.get_request(session, request_id)
        review.send_back(session, request, "reject", principal,
                         members_of(session, request.permit_id), body.comment)
    return request_view(session, request, principal)


@router.post("/egress/requests/{request_id}/release", status_code=201,
             summary="Release an approved request: signed manifest, RO-Crate, ledger")
def release(request_id: str, principal: Checker, session: SessionDep, store: Store,
            staged_in: Staging, http: Request, settings: SettingsDep,
            key: ReleaseKeyDep) -> ReleasePublic:
    with changes.run(session, principal, "egress.request.release",
                     "egress_request", request_id):
        request = review.get_request(session, request_id)
        row = releases.release(session, store, staged_in, key, request, principal,
                               settings.api.public_url)
    return _release_public(row)


# -- releases ---------------------------------------------------------------------------------

@router.get("/egress/releases/{release_id}", summary="A release: signed manifest and RO-Crate")
def read_release(release_id: str, principal: ReleaseReader, session: SessionDep,
                 http: Request) -> ReleasePublic:
    with changes.run(session, principal, "egress.release.read", "egress_release",
                     release_id):
        row = releases.get_release(session, release_id)
        permissions.check_can_read_release(session, row, principal)
        record(session, action="egress.release.read", actor=principal.actor(),
               target_type="egress_release", target_id=row.id, project_id=row.project_id)
    return _release_public(row)


@router.get("/egress/releases/{release_id}/files/{file_id}",
            summary="Download a released file (the requester, outside the workspace)",
            response_class=StreamingResponse, responses=FILE)
def download(release_id: str, file_id: str, principal: PersonalResearcher,
             session: SessionDep, store: Store, http: Request,
             raw: Annotated[bool, Query(description="The exact released bytes, formula cells "
                                                    "of a CSV left as they are")] = False
             ) -> StreamingResponse:
    with changes.run(session, principal, "egress.release.download",
                     "egress_release", release_id):
        name, sha256, content = releases.download(session, store, release_id, file_id,
                                                  principal)
    if raw or not name.lower().endswith(".csv"):
        return _stream(content, name, sha256)
    with content:
        data, neutralised = neutralise_csv(content.read())
    if not neutralised:
        return _stream(io.BytesIO(data), name, sha256)
    # the released bytes are what the manifest signs; say what was served instead
    return _stream(io.BytesIO(data), name, hashlib.sha256(data).hexdigest(),
                   {"X-Released-SHA256": sha256,
                    "X-Formulas-Neutralised": str(neutralised)})


@router.post("/egress/releases/{release_id}/revoke",
             summary="Revoke a release (incident): downloads stop at once")
def revoke(release_id: str, body: Comment, principal: Staff, session: SessionDep,
           http: Request) -> ReleasePublic:
    with changes.run(session, principal, "egress.release.revoke", "egress_release",
                     release_id):
        row = releases.get_release(session, release_id)
        review.revoke_release(session, row, principal, body.comment)
    return _release_public(row)


@router.get("/egress/release-key", summary="The public key that signs release manifests")
def public_release_key(_: Annotated[None, allow_anyone()], key: ReleaseKeyDep) -> ReleaseKey:
    return ReleaseKey(key_id=key.key_id, public_key_pem=public_key_pem(key.public_key))


def _release_public(row) -> ReleasePublic:
    return ReleasePublic(id=row.id, request_id=row.request_id, project_id=row.project_id,
                         manifest=row.manifest, signature=row.signature,
                         signing_key_id=row.signing_key_id, crate=row.crate,
                         revoked=row.revoked_at is not None, revoke_reason=row.revoke_reason)


def _stream(content, name: str, sha256: str, extra: dict[str, str] | None = None
            ) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        with content:
            while chunk := content.read(1024 * 1024):
                yield chunk

    base = name.rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(base, safe='')}",
               "X-Content-Type-Options": "nosniff", "X-Content-SHA256": sha256,
               **(extra or {})}
    return StreamingResponse(chunks(), media_type="application/octet-stream", headers=headers)
