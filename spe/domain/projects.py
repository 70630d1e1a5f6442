"""Projects: the environment a permit entitles, one per permit.

The desired state of a project's workspace is derived from its permit, never stored; the
observed state is what the reconciler last saw the runtime report.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select

from spe.db.types import UTCDateTime, utcnow
from spe.domain.permits import ACTIVE_STATUSES, Permit, PermitMember, PermitStatus


class DesiredState(StrEnum):
    pending = "pending"  # permit granted, not yet valid
    ready = "ready"
    suspended = "suspended"
    deleted = "deleted"


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: str = Field(default_factory=lambda: f"p-{secrets.token_hex(4)}", primary_key=True,
                    max_length=20)
    permit_id: str = Field(foreign_key="permits.id", unique=True)
    title: str = Field(max_length=300)
    observed_state: str = Field(default="absent", max_length=20)
    observed_message: str = Field(default="", max_length=2000)
    workspace_url: str | None = Field(default=None, max_length=500)
    conditions: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    observed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


class ProjectPublic(SQLModel):
    id: str
    title: str
    permit_id: str
    permit_reference: str
    permit_status: PermitStatus
    desired_state: DesiredState
    observed_state: str
    observed_message: str
    workspace_url: str | None
    members: list[str]
    observed_at: datetime | None
    created_at: datetime


def desired_state(permit: Permit, now: datetime | None = None) -> DesiredState:
    now = now or utcnow()
    status = permit.effective_status(now)
    if status in ACTIVE_STATUSES:
        return DesiredState.ready if permit.valid_from <= now else DesiredState.pending
    if status is PermitStatus.suspended:
        return DesiredState.suspended
    return DesiredState.deleted


def project_of(session: Session, permit_id: str) -> Project | None:
    return session.exec(select(Project).where(Project.permit_id == permit_id)).first()


def to_public(session: Session, project: Project, permit: Permit,
              now: datetime | None = None) -> ProjectPublic:
    return to_public_many(session, [(project, permit)], now)[0]


def to_public_many(session: Session, rows: list[tuple[Project, Permit]],
                   now: datetime | None = None) -> list[ProjectPublic]:
    """(project, permit) pairs as the API shows them; the members in one query."""
    members: dict[str, list[str]] = {permit.id: [] for _, permit in rows}
    if members:
        for permit_id, subject in session.exec(select(
                PermitMember.permit_id, PermitMember.subject).where(
                PermitMember.permit_id.in_(list(members)))):
            members[permit_id].append(subject)
    return [ProjectPublic(
        **project.model_dump(exclude={"conditions"}),
        permit_reference=permit.reference,
        permit_status=permit.effective_status(now),
        desired_state=desired_state(permit, now),
        members=sorted(members[permit.id]),
    ) for project, permit in rows]
