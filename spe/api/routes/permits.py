"""Permits and their lifecycle (permit managers act; auditors read)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Field, Session, SQLModel, select

from spe.api import changes
from spe.api.deps import (
    SessionDep,
    allow,
    audit_denied,
    wake_reconciler,
)
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.api.platform import SettingsDep
from spe.domain import permit_decisions as decisions
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import (
    Permit,
    PermitAmend,
    PermitCreate,
    PermitPublic,
    PermitReason,
    PermitRenew,
    PermitResume,
    PermitRevision,
    PermitRevisionPublic,
    PermitStatus,
    get_permit,
)
from spe.domain.principal import Principal
from spe.errors import Forbidden
from spe.messages import Message

router = APIRouter(prefix="/api/v1/permits", tags=["permits"])
Manager = Annotated[Principal, allow(*lifecycle.PERMIT_MANAGERS)]
Reader = Annotated[Principal, allow(*lifecycle.PERMIT_READERS)]


def unsigned_changes_allowed(request: Request, principal: Manager,
                             settings: SettingsDep) -> None:
    if settings.permits.require_signature:
        reason = Message("this deployment takes permit changes only as signed decisions "
                         "(POST /api/v1/permits/decisions)")
        audit_denied(request, principal.actor(), reason)
        raise Forbidden(reason, code="permit.signature_required")


Unsigned = Depends(unsigned_changes_allowed)


def _saved(session: Session, request: Request, permit: Permit,
           principal: Principal) -> PermitPublic:
    """Start a reconcile pass for the committed change, answer with the permit as now seen."""
    wake_reconciler(request)
    return lifecycle.to_public(session, permit, principal)


class SignedDecisionBody(SQLModel):
    jws: str = Field(min_length=1, max_length=decisions.MAX_TOKEN,
                     description="The decision as a compact JWS (docs/permits.md).")


@router.get("", summary="List permits")
def list_permits(principal: Reader, session: SessionDep,
                 page: Annotated[PageParams, Depends(page_params)],
                 status: Annotated[PermitStatus | None, Query()] = None) -> Page[PermitPublic]:
    query = select(Permit).order_by(Permit.created_at, Permit.id)
    if status is not None:
        query = query.where(Permit.status == status)
    rows, cursor = paginate(session, query, page)
    return Page(items=lifecycle.to_public_many(session, rows, principal), next=cursor)


@router.post("", status_code=201, summary="Record a granted permit (creates its project)")
def create(body: PermitCreate, principal: Manager, session: SessionDep,
           request: Request, _: None = Unsigned) -> PermitPublic:
    with changes.run(session, principal, "permit.create", "permit"):
        permit = lifecycle.create_permit(session, body, principal)
    return _saved(session, request, permit, principal)


@router.post("/decisions", summary="Apply a permit decision signed by a trusted issuer")
def apply_signed(body: SignedDecisionBody, principal: Manager, session: SessionDep,
                 request: Request, settings: SettingsDep) -> PermitPublic:
    issuers_file = settings.permits.issuers_file
    # forged, foreign, replayed: worth an auditor's look
    with changes.run(session, principal, "permit.decision.refuse",
                     "permit_decision"):
        verified = decisions.verify(body.jws, decisions.TrustedIssuers.load(issuers_file))
        permit = decisions.apply(session, verified, principal)
    return _saved(session, request, permit, principal)


@router.get("/{permit_id}/decisions", summary="The signed decisions applied to a permit")
def list_decisions(permit_id: str, _: Reader, session: SessionDep,
                   page: Annotated[PageParams, Depends(page_params)]
                   ) -> Page[decisions.PermitDecisionPublic]:
    permit = get_permit(session, permit_id)
    rows, cursor = paginate(session, decisions.decisions_of(permit.id), page)
    return Page(items=[decisions.PermitDecisionPublic.model_validate(r, from_attributes=True)
                       for r in rows], next=cursor)


@router.get("/{permit_id}", summary="Read a permit (by id or reference)")
def read(permit_id: str, principal: Reader, session: SessionDep) -> PermitPublic:
    return lifecycle.to_public(session, get_permit(session, permit_id), principal)


@router.get("/{permit_id}/history", summary="Every change: who, what, when, why")
def history(permit_id: str, _: Reader, session: SessionDep,
            page: Annotated[PageParams, Depends(page_params)]) -> Page[PermitRevisionPublic]:
    permit = get_permit(session, permit_id)
    query = (select(PermitRevision).where(PermitRevision.permit_id == permit.id)
             .order_by(PermitRevision.id))
    rows, cursor = paginate(session, query, page)
    return Page(items=[PermitRevisionPublic.model_validate(r, from_attributes=True)
                       for r in rows], next=cursor)


def _transition(request: Request, session: Session, principal: Principal, name: str,
                permit_id: str, change) -> PermitPublic:
    """Apply ``change`` (a lifecycle call); a refusal is audited as the transition's action,
    outcome denied, so every attempt to change a permit leaves an event."""
    with changes.run(session, principal, lifecycle.TRANSITIONS[name].action,
                     "permit", permit_id[:200]):
        permit = change()
    return _saved(session, request, permit, principal)


@router.post("/{permit_id}/amend", summary="Amend the terms of an active permit")
def amend(permit_id: str, body: PermitAmend, principal: Manager, session: SessionDep,
          request: Request, _: None = Unsigned) -> PermitPublic:
    return _transition(request, session, principal, "amend", permit_id,
                       lambda: lifecycle.amend_permit(session, permit_id, body, principal))


@router.post("/{permit_id}/renew", summary="Extend an active permit's validity")
def renew(permit_id: str, body: PermitRenew, principal: Manager, session: SessionDep,
          request: Request, _: None = Unsigned) -> PermitPublic:
    return _transition(request, session, principal, "renew", permit_id,
                       lambda: lifecycle.renew_permit(session, permit_id, body, principal))


@router.post("/{permit_id}/suspend", summary="Halt a permit (workspace stopped, data kept)")
def suspend(permit_id: str, body: PermitReason, principal: Manager, session: SessionDep,
            request: Request, _: None = Unsigned) -> PermitPublic:
    return _transition(request, session, principal, "suspend", permit_id,
                       lambda: lifecycle.suspend_permit(session, permit_id, body.reason,
                                                        principal))


@router.post("/{permit_id}/resume", summary="Lift a suspension")
def resume(permit_id: str, body: PermitResume, principal: Manager, session: SessionDep,
           request: Request, _: None = Unsigned) -> PermitPublic:
    return _transition(request, session, principal, "resume", permit_id,
                       lambda: lifecycle.resume_permit(session, permit_id, body.reason,
                                                       principal))


@router.post("/{permit_id}/revoke", summary="End a permit for good (workspace and data go)")
def revoke(permit_id: str, body: PermitReason, principal: Manager, session: SessionDep,
           request: Request, _: None = Unsigned) -> PermitPublic:
    return _transition(request, session, principal, "revoke", permit_id,
                       lambda: lifecycle.revoke_permit(session, permit_id, body.reason,
                                                       principal))
