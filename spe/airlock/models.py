"""The airlock's tables: requests, their files (by content hash), votes, releases, ledgers.

Only :mod:`spe.airlock.review` changes ``EgressRequest.status``; the other modules of the
package read these rows or add files and votes through it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from spe.db.types import UTCDateTime, utcnow


def _id() -> str:
    return uuid.uuid4().hex


class RequestStatus(StrEnum):
    submitted = "submitted"
    checked = "checked"
    in_review = "in_review"
    changes_requested = "changes_requested"
    approved = "approved"
    rejected = "rejected"
    released = "released"
    withdrawn = "withdrawn"
    revoked = "revoked"


class Decision(StrEnum):
    approve = "approve"
    request_changes = "request_changes"
    reject = "reject"


class EgressRequest(SQLModel, table=True):
    __tablename__ = "egress_requests"

    id: str = Field(default_factory=_id, primary_key=True, max_length=32)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=20)
    permit_id: str = Field(foreign_key="permits.id", max_length=32)
    permit_reference: str = Field(max_length=64)
    requester_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    requester_subject: str = Field(max_length=200)
    title: str = Field(max_length=300)
    status: RequestStatus = Field(default=RequestStatus.submitted, index=True)
    status_comment: str | None = Field(default=None, max_length=5000,
                                       description="The public comment of the last return, "
                                       "rejection, withdrawal or revocation.")
    pack_name: str = Field(max_length=63)
    pack_version: str = Field(max_length=40)
    approvals_required: int = Field(description="Independent approvals each file needs "
                                    "(the pack's, when the request was submitted).")
    members_may_review: bool = Field(default=False, description="Whether people named in "
                                     "the permit may review (the pack's, at submission).")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


class EgressFile(SQLModel, table=True):
    """One file of a request. A re-upload bumps ``version``; votes name the version."""

    __tablename__ = "egress_files"
    __table_args__ = (UniqueConstraint("request_id", "name"),)

    id: str = Field(default_factory=_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="egress_requests.id", index=True, max_length=32,
                            ondelete="CASCADE")
    name: str = Field(max_length=400)
    description: str = Field(max_length=5000)
    sha256: str = Field(max_length=64)
    size: int
    version: int = 1
    checker_only: bool = Field(default=False, description="Material for checkers (SDC "
                               "sidecars, ACRO session files): reviewed, never released.")
    outcome: str | None = Field(default=None, max_length=10)
    check: dict | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


class EgressVote(SQLModel, table=True):
    __tablename__ = "egress_votes"
    __table_args__ = (UniqueConstraint("file_id", "file_version", "reviewer_id"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: str = Field(foreign_key="egress_files.id", index=True, max_length=32,
                         ondelete="CASCADE")
    file_version: int
    sha256: str = Field(max_length=64)
    reviewer_id: str = Field(foreign_key="users.id", max_length=64)
    reviewer_subject: str = Field(max_length=200)
    decision: Decision
    comment: str = Field(default="", max_length=5000)
    justification: str | None = Field(default=None, max_length=5000)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                    nullable=False))


class EgressRelease(SQLModel, table=True):
    """A signed release: the manifest and its signature, revocable."""

    __tablename__ = "egress_releases"

    id: str = Field(default_factory=_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="egress_requests.id", unique=True, max_length=32)
    project_id: str = Field(foreign_key="projects.id", index=True, max_length=20)
    manifest: dict = Field(sa_column=Column(JSON, nullable=False))
    crate: dict = Field(sa_column=Column(JSON, nullable=False))
    signature: str = Field(max_length=200)
    signing_key_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoke_reason: str | None = Field(default=None, max_length=5000)


class ReleaseLedger(SQLModel, table=True):
    """Per project, the tables already released (the SDC engine's ledger, as JSON)."""

    __tablename__ = "egress_ledgers"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, max_length=20)
    ledger: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
