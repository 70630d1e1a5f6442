"""The output checker's pages: the queue, a request with every file shown inline, votes,
return, reject, release and revoke.

Each action calls the same workflow function as its API twin (``spe.api.routes.egress``),
under the same role rule and with refusals audited the same way; what a checker sees of a
request (blind votes, who may vote) comes from :func:`spe.airlock.views.request_view`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import select

from spe.airlock import overlaps, releases, review
from spe.airlock.models import Decision, EgressRequest, RequestStatus
from spe.airlock.views import queue_entries, request_view
from spe.api import changes
from spe.api.deps import SessionDep, allow, commit
from spe.api.platform import ReleaseKeyDep, SettingsDep
from spe.api.routes.egress import Staging, object_store
from spe.console import preview
from spe.console.web import render
from spe.db.types import utcnow
from spe.domain.permits import members_of
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.errors import SpeError

router = APIRouter(prefix="/console")
Checker = Annotated[Principal, allow(Role.output_checker)]
Staff = Annotated[Principal, allow(Role.output_checker, Role.admin)]
Text = Annotated[str, Form(max_length=5000)]
QUEUE_LIMIT = 500
QUEUE_STATUSES = sorted(review.AWAITING_REVIEW | {RequestStatus.approved})


def _back(request_id: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/console/review/{quote(request_id)}{anchor}", 303)


@router.get("/review", response_class=HTMLResponse, summary="Console: the review queue")
def queue(request: Request, principal: Checker, session: SessionDep,
          project: str | None = None, mine: bool = False) -> HTMLResponse:
    query = (select(EgressRequest)
             .where(EgressRequest.status.in_([s.value for s in QUEUE_STATUSES]))
             .order_by(EgressRequest.created_at, EgressRequest.id).limit(QUEUE_LIMIT))
    if project:
        query = query.where(EgressRequest.project_id == project)
    now = utcnow()
    items = [{"entry": e, "age": _age(now, e.request.created_at)}
             for e in queue_entries(session, list(session.exec(query)), principal)
             if e.waiting_for_me or not mine]
    projects = sorted({i["entry"].request.project_id for i in items})
    return render(request, "queue.html", principal, items=items, projects=projects,
                  project=project, mine=mine)


def _age(now: datetime, then: datetime) -> tuple[int, int]:
    seconds = max(0, int((now - then).total_seconds()))
    return seconds // 86400, seconds % 86400 // 3600


@router.get("/review/{request_id}", response_class=HTMLResponse,
            summary="Console: review a request, every file shown inline (audited)")
def review_page(request_id: str, request: Request, principal: Checker,
                session: SessionDep) -> HTMLResponse:
    row = review.get_request(session, request_id)
    view = request_view(session, row, principal)
    store = object_store(request)
    shown = {}
    for file in review.files_of(session, row.id):
        try:
            with releases.open_quarantined(session, store, row, file, principal) as content:
                data = content.read()
            shown[file.id] = preview.preview(file.name, data, file.check)
        except SpeError as exc:  # shown in place of the file; it cannot be voted on
            shown[file.id] = preview.Preview("error", text=exc.message)
    release = review.release_of(session, row.id)
    commit(session)  # the views' audit events
    return render(request, "review.html", principal, view=view, shown=shown, release=release,
                  decisions=list(Decision))


@router.get("/review/{request_id}/overlaps", response_class=HTMLResponse,
            summary="Console: the released tables of the project overlapping each table of "
                    "a request (audited)")
def overlaps_page(request_id: str, request: Request, principal: Checker, session: SessionDep,
                  staged_in: Staging, page: Annotated[int, Query(ge=1, le=10_000)] = 1
                  ) -> HTMLResponse:
    row = review.get_request(session, request_id)
    view = overlaps.overlaps_view(session, object_store(request), staged_in, row, principal,
                                  page)
    commit(session)  # the files' view events
    return render(request, "overlaps.html", principal, view=view)


@router.get("/review/{request_id}/files/{file_id}/image", summary="Console: an image under "
            "review, from a sandboxed response (audited)")
def image(request_id: str, file_id: str, request: Request, principal: Checker,
          session: SessionDep) -> Response:
    with changes.run(session, principal, "egress.file.view", "egress_request",
                     request_id):
        row = review.get_request(session, request_id)
        file = review.get_file(session, row, file_id)
        with releases.open_quarantined(session, object_store(request), row, file,
                                       principal) as content:
            data = content.read()
    kind = preview.image_type(data[:16])
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'",
               "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
               "Content-Disposition": f"inline; filename*=UTF-8''"
                                      f"{quote(file.name.rsplit('/', 1)[-1], safe='')}"}
    if kind is None:  # not an image by its bytes: never given a type a browser renders
        headers["Content-Disposition"] = headers["Content-Disposition"].replace(
            "inline", "attachment", 1)
        return Response(data, media_type="application/octet-stream", headers=headers)
    return Response(data, media_type=kind, headers=headers)


@router.post("/review/{request_id}/files/{file_id}/vote", summary="Console: vote on a file")
def vote(request_id: str, file_id: str, request: Request, principal: Checker,
         session: SessionDep, decision: Annotated[Decision, Form()],
         sha256: Annotated[str, Form(pattern=r"^[0-9a-f]{64}$")],
         comment: Text = "", justification: Text = "") -> RedirectResponse:
    with changes.run(session, principal, "egress.file.vote", "egress_request",
                     request_id):
        row = review.get_request(session, request_id)
        file = review.get_file(session, row, file_id)
        review.cast_vote(session, row, file, principal, members_of(session, row.permit_id),
                         decision, sha256, comment, justification or None)
    return _back(request_id, f"#file-{file_id}")


@router.post("/review/{request_id}/return", summary="Console: return a request for changes")
def return_request(request_id: str, request: Request, principal: Checker,
                   session: SessionDep, comment: Text = "") -> RedirectResponse:
    with changes.run(session, principal, "egress.request.return",
                     "egress_request", request_id):
        row = review.get_request(session, request_id)
        review.send_back(session, row, "return", principal,
                         members_of(session, row.permit_id), comment)
    return _back(request_id)


@router.post("/review/{request_id}/reject", summary="Console: reject a request")
def reject(request_id: str, request: Request, principal: Checker, session: SessionDep,
           comment: Text = "") -> RedirectResponse:
    with changes.run(session, principal, "egress.request.reject",
                     "egress_request", request_id):
        row = review.get_request(session, request_id)
        review.send_back(session, row, "reject", principal,
                         members_of(session, row.permit_id), comment)
    return _back(request_id)


@router.post("/review/{request_id}/release", summary="Console: release an approved request")
def release(request_id: str, request: Request, principal: Checker, session: SessionDep,
            staged_in: Staging, settings: SettingsDep, key: ReleaseKeyDep) -> RedirectResponse:
    with changes.run(session, principal, "egress.request.release",
                     "egress_request", request_id):
        row = review.get_request(session, request_id)
        releases.release(session, object_store(request), staged_in, key, row, principal,
                         settings.api.public_url)
    return _back(request_id)


@router.post("/releases/{release_id}/revoke", summary="Console: revoke a release")
def revoke(release_id: str, request: Request, principal: Staff, session: SessionDep,
           comment: Text = "") -> RedirectResponse:
    with changes.run(session, principal, "egress.release.revoke",
                     "egress_release", release_id):
        row = releases.get_release(session, release_id)
        review.revoke_release(session, row, principal, comment)
    if Role.output_checker in principal.roles:
        return _back(row.request_id)
    return RedirectResponse("/", 303)
