"""Data permits: who may use which variables of which datasets, for what, until when.

The tables and read-side queries live here; every change of a permit goes through
:mod:`spe.domain.permit_lifecycle`, the one module that writes ``status``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, StringConstraints, field_validator, model_validator
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from spe.db.types import UTCDateTime, utcnow
from spe.domain.users import Subject
from spe.errors import NotFound
from spe.messages import Message

Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$")]


class PermitStatus(StrEnum):
    granted = "granted"
    amended = "amended"
    renewed = "renewed"
    suspended = "suspended"
    revoked = "revoked"
    expired = "expired"


ACTIVE_STATUSES = frozenset({PermitStatus.granted, PermitStatus.amended, PermitStatus.renewed})
ENDED_STATUSES = frozenset({PermitStatus.revoked, PermitStatus.expired})


class PermittedDataset(SQLModel):
    dataset: str = Field(max_length=63)
    variables: list[str] = Field(min_length=1)

    @field_validator("variables")
    @classmethod
    def _unique(cls, variables: list[str]) -> list[str]:
        if len(set(variables)) != len(variables):
            raise ValueError(Message("variables are listed twice"))
        return variables


def _check_datasets(datasets: list[PermittedDataset] | None) -> list[PermittedDataset] | None:
    if datasets is not None and len({d.dataset for d in datasets}) != len(datasets):
        raise ValueError(Message("a dataset is listed twice"))
    return datasets


class PermitTerms(SQLModel):
    """What an amendment may change (all optional there)."""

    purpose: str = Field(min_length=1, max_length=5000)
    project_title: str = Field(min_length=1, max_length=300)
    principal_investigator: Subject
    members: list[Subject] = Field(min_length=1, description="Subjects of the natural "
                                   "persons the permit names (the principal investigator "
                                   "is added).")
    datasets: list[PermittedDataset] = Field(min_length=1)
    sdc_policy: str = Field(default="snds", max_length=63)
    workspace_profile: str = Field(default="standard", max_length=63)

    @field_validator("members")
    @classmethod
    def _subjects(cls, members: list[str] | None) -> list[str] | None:
        return None if members is None else sorted(set(members))

    _datasets = field_validator("datasets")(_check_datasets)


class PermitCreate(PermitTerms):
    reference: Reference
    issuer: str = Field(min_length=1, max_length=200)
    valid_from: AwareDatetime
    valid_until: AwareDatetime

    @model_validator(mode="after")
    def _dates(self) -> PermitCreate:
        if self.valid_until <= self.valid_from:
            raise ValueError(Message("valid_until must be after valid_from"))
        return self


class PermitAmend(SQLModel):
    """The terms an amendment changes; a term left out or null stays as it is."""

    purpose: str | None = Field(default=None, min_length=1, max_length=5000)
    project_title: str | None = Field(default=None, min_length=1, max_length=300)
    principal_investigator: Subject | None = None
    members: list[Subject] | None = Field(default=None, min_length=1)
    datasets: list[PermittedDataset] | None = Field(default=None, min_length=1)
    sdc_policy: str | None = Field(default=None, max_length=63)
    workspace_profile: str | None = Field(default=None, max_length=63)
    reason: str = Field(min_length=1, max_length=2000)

    _members = field_validator("members")(PermitTerms._subjects.__func__)
    _datasets = field_validator("datasets")(_check_datasets)


class PermitRenew(SQLModel):
    valid_until: AwareDatetime
    reason: str = Field(default="renewal", min_length=1, max_length=2000)


class PermitReason(SQLModel):
    reason: str = Field(min_length=1, max_length=2000)


class PermitResume(SQLModel):
    reason: str = Field(default="resumed", min_length=1, max_length=2000)


class Permit(SQLModel, table=True):
    __tablename__ = "permits"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    reference: str = Field(index=True, unique=True, max_length=64)
    issuer: str = Field(max_length=200)
    purpose: str = Field(max_length=5000)
    project_title: str = Field(max_length=300)
    principal_investigator: str = Field(max_length=200)
    sdc_policy: str = Field(max_length=63)
    workspace_profile: str = Field(max_length=63)
    valid_from: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    valid_until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: PermitStatus = Field(default=PermitStatus.granted, index=True)
    status_before_suspension: PermitStatus | None = None
    status_reason: str | None = Field(default=None, max_length=2000)
    version: int = 1
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))

    def effective_status(self, now: datetime | None = None) -> PermitStatus:
        """The status, with expiry derived from the dates: past ``valid_until`` is expired."""
        now = now or utcnow()
        if self.status not in ENDED_STATUSES and now >= self.valid_until:
            return PermitStatus.expired
        return self.status

    def is_active(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.effective_status(now) in ACTIVE_STATUSES and self.valid_from <= now


class PermitMember(SQLModel, table=True):
    __tablename__ = "permit_members"

    permit_id: str = Field(foreign_key="permits.id", primary_key=True, ondelete="CASCADE")
    subject: str = Field(primary_key=True, max_length=200, index=True)


class PermitDataset(SQLModel, table=True):
    __tablename__ = "permit_datasets"

    permit_id: str = Field(foreign_key="permits.id", primary_key=True, ondelete="CASCADE")
    dataset_name: str = Field(foreign_key="datasets.name", primary_key=True)
    variables: list[str] = Field(sa_column=Column(JSON, nullable=False))


class PermitRevision(SQLModel, table=True):
    """One row per change: who changed what, when, why, and the permit as it became.

    Rows are keyed by ``seq``, the change's position in the permit's history (1, 2, 3…).
    ``version`` is the version of the terms, which suspend, resume and revoke leave alone,
    so a permit may hold several revisions of one version and one action (suspended twice).
    """

    __tablename__ = "permit_revisions"
    __table_args__ = (UniqueConstraint("permit_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    permit_id: str = Field(foreign_key="permits.id", index=True, ondelete="CASCADE")
    seq: int
    version: int
    action: str = Field(max_length=40)
    actor_id: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)
    changed: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    snapshot: dict = Field(sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                    nullable=False))


class PermitPublic(SQLModel):
    id: str
    reference: str
    issuer: str
    purpose: str
    project_title: str
    principal_investigator: str
    members: list[str]
    datasets: list[PermittedDataset]
    sdc_policy: str
    workspace_profile: str
    valid_from: datetime
    valid_until: datetime
    status: PermitStatus
    effective_status: PermitStatus
    active: bool
    status_reason: str | None
    version: int
    project_id: str | None
    allowed_actions: list[str] = Field(default_factory=list, description="The transitions "
                                       "the caller may apply now (for user interfaces).")
    created_at: datetime
    updated_at: datetime


class PermitRevisionPublic(SQLModel):
    seq: int
    version: int
    action: str
    actor_id: str | None
    reason: str | None
    changed: list[str]
    snapshot: dict
    at: datetime


def get_permit(session: Session, permit_id: str, *, for_update: bool = False) -> Permit:
    """The permit by id or reference; ``for_update`` locks its row until the transaction
    ends (PostgreSQL), so two changes of one permit run one after the other."""
    permit = session.get(Permit, permit_id, with_for_update=for_update)
    if permit is None:
        query = select(Permit).where(Permit.reference == permit_id)
        permit = session.exec(query.with_for_update() if for_update else query).first()
    if permit is None:
        raise NotFound(Message("no permit {permit_id!r}", permit_id=permit_id),
                       code="permit.not_found")
    return permit


def members_of(session: Session, permit_id: str) -> list[str]:
    rows = session.exec(select(PermitMember.subject).where(PermitMember.permit_id == permit_id))
    return sorted(rows)


def datasets_of(session: Session, permit_id: str) -> list[PermittedDataset]:
    rows = session.exec(select(PermitDataset).where(PermitDataset.permit_id == permit_id)
                        .order_by(PermitDataset.dataset_name))
    return [PermittedDataset(dataset=r.dataset_name, variables=list(r.variables)) for r in rows]


def variables_in_use(session: Session, dataset_name: str) -> set[str]:
    rows = session.exec(select(PermitDataset.variables)
                        .where(PermitDataset.dataset_name == dataset_name))
    return {v for variables in rows for v in variables}
