"""The audit log for auditors (search, checkpoints, proofs, exports) and its ingestion
endpoint for project hubs and object storage.

Events name people by id; the search takes a user's id, name (subject) or e-mail and every
event it returns carries ``actor_name`` (and ``actor_email``) beside ``actor_id``, joined
here from the users table: the log itself stays as written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func
from sqlmodel import Session, select

from spe.api import changes
from spe.api.deps import (
    SessionDep,
    allow,
    allow_anyone,
    allow_component,
)
from spe.api.pagination import Page
from spe.api.platform import AuditDep, platform
from spe.audit import AuditEvent, checkpoints, record, record_many, service
from spe.audit import request as checkpoint_request
from spe.audit.config import AuditConfig
from spe.audit.export import MEDIA_TYPE, export_events, export_header
from spe.audit.ingest import IngestBatch, drafts_for
from spe.audit.signer import verify_before_signing
from spe.crypto.signing import key_id, public_key_pem
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.domain.users import User
from spe.errors import NotFound
from spe.messages import Message

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Auditor = Annotated[Principal, allow(Role.auditor, Role.admin)]
Component = Annotated[Principal, allow_component("hub", "storage")]


@router.get("/events", summary="Search events, by sequence number",
            responses={404: {"description": "`actor` names no user and no event's actor"}})
def search_events(
    _: Auditor, session: SessionDep,
    actor: Annotated[str | None, Query(max_length=320, description="A user's id, name "
                                       "(subject) or e-mail, or another actor's id (e.g. "
                                       "hub:p-1a2b).")] = None,
    project: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100, description="Action prefix.")] = None,
    target_type: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|denied|error)$")] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    after: Annotated[int | None, Query(ge=-1, lt=2**63 - 1,
                                       description="`next` of the previous page.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 50,
) -> Page[dict]:
    flt = service.EventFilter(actor_id=actor and _actor_id(session, actor), project_id=project,
                              action_prefix=action, target_type=target_type,
                              target_id=target_id, outcome=outcome, since=since, until=until)
    rows, cursor = service.search(session, flt, after=after, limit=limit)
    return Page(items=_named(session, rows), next=None if cursor is None else str(cursor))


def _actor_id(session: Session, actor: str) -> str:
    """The actor id that ``actor`` names: a user by id, subject or e-mail (case-insensitive),
    else an actor id found in the log; 404 when it names nobody."""
    user = session.get(User, actor) or session.exec(select(User).where(
        User.subject == actor)).first()
    if user is None and "@" in actor:
        matches = session.exec(select(User).where(
            func.lower(User.email) == actor.lower())).all()
        if len(matches) > 1:
            raise NotFound(Message("{n_matches} users have the e-mail {actor!r}: search by "
                                   "name", n_matches=len(matches), actor=actor),
                           code="audit.ambiguous_actor")
        user = matches[0] if matches else None
    if user is not None:
        return user.id
    if session.exec(select(AuditEvent.seq).where(AuditEvent.actor_id == actor).limit(1)
                    ).first() is None:
        raise NotFound(Message("no user has the id, name or e-mail {actor!r}, and no event "
                               "has it as actor", actor=actor), code="audit.unknown_actor")
    return actor


def _named(session: Session, events: list[AuditEvent]) -> list[dict]:
    """The events as JSON, each with its actor's name and e-mail when the actor is a user."""
    ids = {e.actor_id for e in events if e.actor_type == "user"}
    users = {u.id: u for u in session.exec(select(User).where(User.id.in_(ids)))} if ids \
        else {}
    named = []
    for event in events:
        user = users.get(event.actor_id) if event.actor_type == "user" else None
        named.append({**service.event_json(event),
                      "actor_name": user.subject if user else None,
                      "actor_email": user.email if user else None})
    return named


@router.get("/events/{seq}", summary="Read one event")
def read_event(seq: int, _: Auditor, session: SessionDep) -> dict:
    return _named(session, [service.get_event(session, seq)])[0]


@router.get("/events/{seq}/proof", summary="Inclusion proof of an event in a checkpoint")
def inclusion_proof(seq: int, _: Auditor, session: SessionDep,
                    tree_size: Annotated[int | None, Query(ge=1)] = None) -> dict:
    return service.inclusion(session, seq, tree_size)


@router.get("/checkpoints/latest", summary="The latest signed checkpoint",
            responses={404: {"description": "No checkpoint yet"}})
def latest_checkpoint(_: Auditor, session: SessionDep) -> dict:
    return checkpoints.latest(session).to_json()


@router.get("/checkpoints/{tree_size}", summary="The signed checkpoint at a tree size")
def checkpoint_at(tree_size: int, _: Auditor, session: SessionDep) -> dict:
    return checkpoints.at_size(session, tree_size).to_json()


@router.post("/checkpoints", status_code=201, summary="Sign a checkpoint of the log now")
def create_checkpoint(request: Request, principal: Auditor, session: SessionDep,
                      config: AuditDep) -> dict:
    return sign_checkpoint(request, session, principal, config).to_json()


def sign_checkpoint(request: Request, session: Session, principal: Principal,
                    config: AuditConfig) -> checkpoints.Checkpoint:
    """A checkpoint of the log as it is now, from the checkpoint signer (the API's route and
    the console's form): the log is verified here first with the public key (409
    audit.log_broken, audited), then the request is recorded and committed, and the signer,
    the only holder of the key, signs over it (503 audit.signer_unavailable if it does not
    within ``audit_signer_wait_seconds``)."""
    settings = platform(request).settings
    with changes.run(session, principal, checkpoint_request.REQUEST_ACTION, "checkpoint"):
        verify_before_signing(session, config.public_key(),
                              witness=config.open_witness(settings),
                              retention=config.retention)
        asked = checkpoint_request.ask(session, principal.actor(), "checkpoint")
    return checkpoint_request.await_checkpoint(request.app.state.engine, asked.seq,
                                               config.signer_wait_seconds)


@router.get("/consistency", summary="Consistency proof between two checkpoints",
            responses={404: {"description": "No checkpoint at one of the two sizes"}})
def consistency_proof(_: Auditor, session: SessionDep,
                      old: Annotated[int, Query(ge=1, alias="from")],
                      new: Annotated[int, Query(ge=1, alias="to")]) -> dict:
    return service.consistency(session, old, new)


@router.get("/export", summary="Export events as JSON Lines, verifiable offline",
            response_class=StreamingResponse,
            responses={200: {"content": {MEDIA_TYPE: {}}},
                       404: {"description": "No checkpoint yet"}})
def export(request: Request, principal: Auditor, session: SessionDep, config: AuditDep,
           start: Annotated[int, Query(ge=0, alias="from")] = 0,
           end: Annotated[int | None, Query(ge=0, alias="to")] = None) -> StreamingResponse:
    # every event up to now: a checkpoint of the head first, as `spe audit export` does
    # (verified here, then signed by the checkpoint signer: 409 audit.log_broken, audited)
    settings = platform(request).settings
    with changes.run(session, principal, "audit.export", "log"):
        verify_before_signing(session, config.public_key(),
                              witness=config.open_witness(settings),
                              retention=config.retention)
        asked = checkpoint_request.ask(session, principal.actor(), "export")
    checkpoint_request.await_checkpoint(request.app.state.engine, asked.seq,
                                        config.signer_wait_seconds)
    with changes.run(session, principal, "audit.export", "log"):
        header, end = export_header(session, start, end)  # fails before the 200 is sent
        record(session, action="audit.export", actor=principal.actor(), target_type="log",
               details={"from": start, "to": end})
    engine = request.app.state.engine

    def body():
        yield header
        with Session(engine) as stream:  # the request's session closes before streaming
            yield from export_events(stream, start, end)

    return StreamingResponse(body(), media_type=MEDIA_TYPE)


@router.get("/public-key", summary="The public key that verifies checkpoints")
def public_key(config: AuditDep, _: Annotated[None, allow_anyone()]) -> dict:
    key = config.public_key()
    return {"key_id": key_id(key), "pem": public_key_pem(key), "algorithm": "Ed25519"}


@router.post("/ingest", status_code=202,
             summary="Append events reported by a project hub or object storage")
def ingest(batch: IngestBatch, principal: Component, session: SessionDep) -> dict:
    with changes.run(session, principal, "audit.ingest", "log"):
        drafts = drafts_for(batch, principal.component, principal.project_id)
        seqs = record_many(session, drafts)
    return {"accepted": len(seqs), "seqs": [seqs[0], seqs[-1]] if seqs else []}

