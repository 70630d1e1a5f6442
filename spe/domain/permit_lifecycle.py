"""The permit state machine: the only code that creates permits or changes their status.

Follows the EHDS/TEHDAS2 lifecycle. Each transition is a row of :data:`MACHINE` (a
:class:`spe.domain.statemachine.StateMachine`): the states it leaves from, the state it goes
to, who may perform it (``who``: the roles) and the audit action it writes.
``check_can_transition`` raises, ``can_transition`` answers yes or no from the same rule, and
each ``*_permit`` function checks, mutates, records the revision and appends the audit event
in the caller's transaction.

    granted ──amend──► amended ──renew──► renewed      (amend/renew from any active state)
       │                  │                  │
       └──────────── suspend ◄──resume──► suspended    (resume returns to the prior state)
       any non-ended state ──revoke──► revoked;  active or suspended past its dates ──► expired
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import Session, delete, func, select

import policies
from spe.audit import record
from spe.db.types import utcnow
from spe.domain.datasets import Dataset
from spe.domain.permits import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    Permit,
    PermitAmend,
    PermitCreate,
    PermitDataset,
    PermitMember,
    PermitPublic,
    PermitRenew,
    PermitRevision,
    PermitStatus,
    PermittedDataset,
    datasets_of,
    get_permit,
    members_of,
)
from spe.domain.principal import Principal
from spe.domain.projects import Project, project_of
from spe.domain.roles import Role
from spe.domain.statemachine import StateMachine, Transition
from spe.errors import Conflict, Forbidden, InvalidInput
from spe.messages import Message

# The permit roles, listed here only: the API's routes and the console's pages declare these.
PERMIT_MANAGERS = frozenset({Role.admin, Role.permit_manager})  # record and change permits
PERMIT_READERS = PERMIT_MANAGERS | {Role.auditor}  # read permits and their history
SYSTEM = frozenset()  # performed by the platform itself, never by a person


_ALIVE = ACTIVE_STATUSES | {PermitStatus.suspended}

MACHINE = StateMachine("permit", "permit.invalid_transition", start=(PermitStatus.granted,
                                                                     "create"), table=(
    Transition("amend", ACTIVE_STATUSES, PermitStatus.amended, "permit.amend", PERMIT_MANAGERS,
               needs_reason=True),
    Transition("renew", ACTIVE_STATUSES, PermitStatus.renewed, "permit.renew", PERMIT_MANAGERS),
    Transition("suspend", ACTIVE_STATUSES, PermitStatus.suspended, "permit.suspend",
               PERMIT_MANAGERS, needs_reason=True),
    Transition("resume", frozenset({PermitStatus.suspended}), None, "permit.resume",
               PERMIT_MANAGERS, label="resume (to the prior state)"),  # target: the prior
    Transition("revoke", _ALIVE, PermitStatus.revoked, "permit.revoke", PERMIT_MANAGERS,
               needs_reason=True),
    Transition("expire", _ALIVE, PermitStatus.expired, "permit.expire", SYSTEM),
))
TRANSITIONS = MACHINE.transitions


def check_can_transition(permit: Permit, name: str, principal: Principal,
                         now: datetime | None = None) -> Transition:
    """The transition, if ``principal`` may apply it to ``permit`` now; raises otherwise."""
    now = now or utcnow()
    transition = MACHINE[name]
    if transition.who == SYSTEM:
        if principal.via != "system":
            raise Forbidden(Message("only the platform may {name} a permit", name=name),
                            code="permit.forbidden")
    elif not principal.has_any(transition.who):
        raise Forbidden(Message("{name} needs one of the roles {roles}", name=name,
                                roles=', '.join(sorted(r.value for r in transition.who))),
                        code="permit.forbidden")
    current = permit.effective_status(now)
    if name == "expire":  # by its dates: the stored status is what it leaves
        if permit.status in ENDED_STATUSES or now < permit.valid_until:
            raise Conflict(Message("permit {reference} is {current} until {valid_until}; it cannot "
                                   "expire now", reference=permit.reference,
                                   current=current.value,
                                   valid_until=permit.valid_until.isoformat()),
                           code=MACHINE.code)
        return transition
    return MACHINE.check(name, current, permit.reference)


def can_transition(permit: Permit, name: str, principal: Principal,
                   now: datetime | None = None) -> bool:
    try:
        check_can_transition(permit, name, principal, now)
    except (Forbidden, Conflict):
        return False
    return True


def create_permit(session: Session, data: PermitCreate, principal: Principal) -> Permit:
    if not principal.has_any(PERMIT_MANAGERS):
        raise Forbidden(Message("creating a permit needs the role admin or permit_manager"),
                        code="permit.forbidden")
    if session.exec(select(Permit.id).where(Permit.reference == data.reference)).first():
        raise Conflict(Message("permit {reference} exists", reference=data.reference),
                       code="permit.exists")
    _check_terms(session, data.sdc_policy, data.workspace_profile, data.datasets)
    permit = Permit(**data.model_dump(exclude={"members", "datasets"}),
                    created_by=principal.user_id)
    session.add(permit)
    session.flush()
    _write_members(session, permit, data.members)
    _write_datasets(session, permit, data.datasets)
    project = Project(permit_id=permit.id, title=permit.project_title)
    session.add(project)
    session.flush()
    _finish(session, permit, "create", "permit.create", principal, None,
            sorted(PermitCreate.model_fields), extra={"project_id": project.id})
    return permit


def amend_permit(session: Session, permit_id: str, data: PermitAmend,
                 principal: Principal) -> Permit:
    permit = get_permit(session, permit_id, for_update=True)
    check_can_transition(permit, "amend", principal)
    changes = data.model_dump(exclude_unset=True, exclude_none=True, exclude={"reason"})
    if not changes:
        raise InvalidInput(Message("an amendment must change at least one term"),
                           code="permit.empty_amendment")
    datasets = data.datasets if data.datasets is not None else datasets_of(session, permit.id)
    _check_terms(session, data.sdc_policy or permit.sdc_policy,
                 data.workspace_profile or permit.workspace_profile, datasets)
    for field in ("purpose", "project_title", "principal_investigator", "sdc_policy",
                  "workspace_profile"):
        if field in changes:
            setattr(permit, field, changes[field])
    if data.members is not None or data.principal_investigator is not None:
        members = data.members if data.members is not None else members_of(session, permit.id)
        session.exec(delete(PermitMember).where(PermitMember.permit_id == permit.id))
        _write_members(session, permit, members)
    if data.datasets is not None:
        session.exec(delete(PermitDataset).where(PermitDataset.permit_id == permit.id))
        _write_datasets(session, permit, data.datasets)
    if data.project_title is not None:
        project = project_of(session, permit.id)
        project.title = data.project_title
        session.add(project)
    permit.version += 1
    _move(session, permit, "amend", principal, data.reason, sorted(changes))
    return permit


def renew_permit(session: Session, permit_id: str, data: PermitRenew,
                 principal: Principal) -> Permit:
    permit = get_permit(session, permit_id, for_update=True)
    check_can_transition(permit, "renew", principal)
    if data.valid_until <= permit.valid_until:
        raise InvalidInput(Message("a renewal must extend the permit beyond {valid_until}",
                                   valid_until=permit.valid_until.isoformat()),
                           code="permit.renewal_not_later")
    permit.valid_until = data.valid_until
    permit.version += 1
    _move(session, permit, "renew", principal, data.reason, ["valid_until"])
    return permit


def suspend_permit(session: Session, permit_id: str, reason: str,
                   principal: Principal) -> Permit:
    permit = get_permit(session, permit_id, for_update=True)
    check_can_transition(permit, "suspend", principal)
    permit.status_before_suspension = permit.status
    permit.status_reason = reason
    _move(session, permit, "suspend", principal, reason, ["status"])
    return permit


def resume_permit(session: Session, permit_id: str, reason: str,
                  principal: Principal) -> Permit:
    permit = get_permit(session, permit_id, for_update=True)
    check_can_transition(permit, "resume", principal)
    prior = permit.status_before_suspension or PermitStatus.granted
    permit.status_before_suspension = None
    permit.status_reason = None
    _move(session, permit, "resume", principal, reason, ["status"], target=prior)
    return permit


def revoke_permit(session: Session, permit_id: str, reason: str,
                  principal: Principal) -> Permit:
    permit = get_permit(session, permit_id, for_update=True)
    check_can_transition(permit, "revoke", principal)
    permit.status_before_suspension = None
    permit.status_reason = reason
    _move(session, permit, "revoke", principal, reason, ["status"])
    return permit


def expire_permit(session: Session, permit_id: str, principal: Principal) -> Permit:
    """Record a permit's expiry (the platform does this once its dates have passed)."""
    permit = get_permit(session, permit_id, for_update=True)
    check_can_transition(permit, "expire", principal)
    permit.status_before_suspension = None
    _move(session, permit, "expire", principal, "validity ended", ["status"])
    return permit


def to_public(session: Session, permit: Permit, principal: Principal | None = None,
              now: datetime | None = None) -> PermitPublic:
    """The permit as the API shows it; with ``principal``, what that caller may do to it."""
    return to_public_many(session, [permit], principal, now)[0]


def to_public_many(session: Session, permits: list[Permit], principal: Principal | None = None,
                   now: datetime | None = None) -> list[PermitPublic]:
    """Several permits as :func:`to_public` shows them, in three queries whatever their
    number (a page of 20 took 60 queries, one at a time, under load)."""
    ids = [p.id for p in permits]
    members: dict[str, list[str]] = defaultdict(list)
    datasets: dict[str, list[PermittedDataset]] = defaultdict(list)
    projects: dict[str, str] = {}
    if ids:
        for permit_id, subject in session.exec(select(
                PermitMember.permit_id, PermitMember.subject).where(
                PermitMember.permit_id.in_(ids))):
            members[permit_id].append(subject)
        for row in session.exec(select(PermitDataset).where(PermitDataset.permit_id.in_(ids))
                                .order_by(PermitDataset.dataset_name)):
            datasets[row.permit_id].append(PermittedDataset(dataset=row.dataset_name,
                                                            variables=list(row.variables)))
        projects = dict(session.exec(select(Project.permit_id, Project.id).where(
            Project.permit_id.in_(ids))).all())
    return [PermitPublic(
        **permit.model_dump(exclude={"status_before_suspension", "created_by"}),
        members=sorted(members[permit.id]),
        datasets=datasets[permit.id],
        effective_status=permit.effective_status(now),
        active=permit.is_active(now),
        project_id=projects.get(permit.id),
        allowed_actions=[name for name in TRANSITIONS if principal is not None
                         and can_transition(permit, name, principal, now)],
    ) for permit in permits]


def _check_terms(session: Session, sdc_policy: str, workspace_profile: str,
                 datasets: list[PermittedDataset]) -> None:
    for kind, name in (("packs", sdc_policy), ("workspace-profiles", workspace_profile)):
        if name not in policies.available(kind):
            raise InvalidInput(Message("unknown {kind} {name!r}; available: {available}",
                                       kind=kind[:-1], name=name,
                                       available=', '.join(policies.available(kind))),
                               code="permit.unknown_policy")
    for item in datasets:
        dataset = session.get(Dataset, item.dataset)
        if dataset is None:
            raise InvalidInput(Message("no dataset {dataset!r} in the catalogue",
                                       dataset=item.dataset),
                               code="permit.unknown_dataset")
        unknown = sorted(set(item.variables) - dataset.variable_names())
        if unknown:
            raise InvalidInput(Message("dataset {dataset!r} has no variables {unknown}",
                                       dataset=item.dataset, unknown=', '.join(unknown)),
                               code="permit.unknown_variables")


def _write_members(session: Session, permit: Permit, members: list[str]) -> None:
    for subject in sorted(set(members) | {permit.principal_investigator}):
        session.add(PermitMember(permit_id=permit.id, subject=subject))


def _write_datasets(session: Session, permit: Permit, datasets: list[PermittedDataset]) -> None:
    for item in datasets:
        session.add(PermitDataset(permit_id=permit.id, dataset_name=item.dataset,
                                  variables=list(item.variables)))


def _move(session: Session, permit: Permit, name: str, principal: Principal,
          reason: str | None, changed: list[str], target: PermitStatus | None = None) -> None:
    """Apply transition ``name`` (checked by the caller): the status, its audit event and the
    revision, in the caller's transaction."""
    permit.updated_at = utcnow()
    project = project_of(session, permit.id)
    MACHINE.apply(session, permit, name, actor=principal.actor(), target_type="permit",
                  target_id=permit.id, project_id=project.id if project else None,
                  target=target, details=_details(permit, target or MACHINE[name].target,
                                                  changed))
    _revise(session, permit, name, principal, reason, changed)


def _finish(session: Session, permit: Permit, name: str, action: str, principal: Principal,
            reason: str | None, changed: list[str], extra: dict | None = None) -> None:
    """Stamp, snapshot into the history, and audit — in the caller's transaction."""
    permit.updated_at = utcnow()
    session.add(permit)
    session.flush()
    _revise(session, permit, name, principal, reason, changed)
    project = project_of(session, permit.id)
    record(session, action=action, actor=principal.actor(), target_type="permit",
           target_id=permit.id, project_id=project.id if project else None,
           details={**_details(permit, permit.status, changed), **(extra or {})})


def _details(permit: Permit, status: PermitStatus, changed: list[str]) -> dict:
    return {"reference": permit.reference, "status": status.value, "version": permit.version,
            "changed": changed}


def _revise(session: Session, permit: Permit, name: str, principal: Principal,
            reason: str | None, changed: list[str]) -> None:
    """The permit as it now is, as the next row of its history."""
    snapshot = permit.model_dump(mode="json", exclude={"status_before_suspension"})
    snapshot["members"] = members_of(session, permit.id)
    snapshot["datasets"] = [d.model_dump() for d in datasets_of(session, permit.id)]
    seq = session.exec(select(func.coalesce(func.max(PermitRevision.seq), 0))
                       .where(PermitRevision.permit_id == permit.id)).one() + 1
    session.add(PermitRevision(permit_id=permit.id, seq=seq, version=permit.version, action=name,
                               actor_id=principal.user_id or principal.subject, reason=reason,
                               changed=changed, snapshot=snapshot))


def state_diagram() -> str:
    """A Mermaid state diagram generated from :data:`MACHINE` (used in docs/permits.md);
    resume is drawn back to ``granted``, the prior state of a permit never amended."""
    return MACHINE.diagram(target=lambda t: t.target or PermitStatus.granted,
                           final=(PermitStatus.revoked, PermitStatus.expired))
