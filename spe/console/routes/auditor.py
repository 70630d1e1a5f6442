"""The auditor's pages: search the log by person, action, project, outcome and time (names
beside ids), an event with its inclusion proof checked in the browser, the checkpoints.

Searches go through :func:`spe.audit.service.search`, as the API's; a person is looked up
by name, e-mail or subject first. The proof is checked by ``static/audit-proof.js`` from
the API's proof and public key: the leaf rebuilt from its fields, the Merkle path
recomputed to the checkpoint's root (RFC 9162) and the checkpoint's Ed25519 signature
verified with WebCrypto, so the page's own claims are not what the auditor trusts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import or_, select

from spe.api.deps import SessionDep, allow
from spe.api.platform import AuditDep
from spe.api.routes import audit as audit_api
from spe.audit import checkpoints, service
from spe.audit.models import AuditCheckpoint
from spe.console.web import render
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import User
from spe.errors import InvalidInput
from spe.messages import Message

router = APIRouter(prefix="/console/audit")
Auditor = Annotated[Principal, allow(Role.auditor, Role.admin)]
PAGE = 50
PEOPLE_SHOWN = 20


def names_of(session, ids: set[str]) -> dict[str, User]:
    if not ids:
        return {}
    return {u.id: u for u in session.exec(select(User).where(User.id.in_(sorted(ids))))}


def people_matching(session, text: str) -> list[User]:
    like = f"%{text.strip().lower()}%"
    return list(session.exec(select(User).where(or_(
        User.display_name.ilike(like), User.email.ilike(like), User.subject.ilike(like)))
        .order_by(User.subject).limit(PEOPLE_SHOWN)))


@router.get("", response_class=HTMLResponse, summary="Console: search the audit log")
def search(request: Request, principal: Auditor, session: SessionDep,
           person: Annotated[str, Query(max_length=200)] = "",
           actor: Annotated[str | None, Query(max_length=200)] = None,
           action: Annotated[str, Query(max_length=100)] = "",
           project: Annotated[str, Query(max_length=200)] = "",
           outcome: Annotated[str, Query(pattern="^(|success|denied|error)$")] = "",
           since: Annotated[str, Query(max_length=40)] = "",
           until: Annotated[str, Query(max_length=40)] = "",
           after: Annotated[int | None, Query(ge=-1, lt=2**63 - 1)] = None) -> HTMLResponse:
    candidates = []
    if person.strip() and actor is None:
        candidates = people_matching(session, person)
        if len(candidates) == 1:
            actor = candidates[0].id
    searched = not person.strip() or actor is not None
    rows, cursor = [], None
    if searched:
        flt = service.EventFilter(actor_id=actor, project_id=project or None,
                                  action_prefix=action or None, outcome=outcome or None,
                                  since=_utc(since, "since"), until=_utc(until, "until"))
        rows, cursor = service.search(session, flt, after=after, limit=PAGE)
    names = names_of(session, {r.actor_id for r in rows if r.actor_type == "user"})
    query = {k: v for k, v in request.query_params.items() if k != "after"}
    return render(request, "audit.html", principal, rows=rows, names=names, next=cursor,
                  candidates=candidates if actor is None else [], searched=searched,
                  form={"person": person, "action": action, "project": project,
                        "outcome": outcome, "since": request.query_params.get("since", ""),
                        "until": request.query_params.get("until", "")}, query=query,
                  actor=actor)


def _utc(text: str, name: str) -> datetime | None:
    """A form's date and time (``datetime-local`` has no zone: UTC), or None if empty."""
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(Message("{name}: not a date and time: {text!r}", name=name,
                                   text=text[:40]),
                           code="audit.bad_time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@router.get("/events/{seq}", response_class=HTMLResponse,
            summary="Console: an audit event, its proof checked in the browser")
def event(seq: int, request: Request, principal: Auditor, session: SessionDep) -> HTMLResponse:
    row = service.get_event(session, seq)
    names = names_of(session, {row.actor_id} if row.actor_type == "user" else set())
    latest = checkpoints.latest_row(session)
    return render(request, "audit_event.html", principal, event=service.event_json(row),
                  actor=names.get(row.actor_id), latest=latest)


@router.get("/checkpoints", response_class=HTMLResponse,
            summary="Console: the signed checkpoints of the audit log")
def checkpoint_list(request: Request, principal: Auditor,
                    session: SessionDep) -> HTMLResponse:
    rows = session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc())
                        .limit(PAGE)).all()
    return render(request, "audit_checkpoints.html", principal, rows=rows)


@router.post("/checkpoints", summary="Console: sign a checkpoint of the log now")
def sign_checkpoint(request: Request, principal: Auditor, session: SessionDep,
                    config: AuditDep,
                    event: Annotated[int | None, Form(ge=0)] = None) -> RedirectResponse:
    audit_api.sign_checkpoint(request, session, principal, config)
    return RedirectResponse("/console/audit/checkpoints" if event is None
                            else f"/console/audit/events/{event}", 303)
