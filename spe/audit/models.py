"""The audit tables.

``audit_leaf``        one row per event forever: the Merkle leaf (version, seq, time,
                      body commitment) and its hash.
``audit_event``       the event body (who, what, target, details) and its salt; deletable
                      once past retention, leaving the leaf and so the tree intact.
``audit_node``        every complete subtree hash above the leaves (level >= 1), so proofs
                      are O(log n) indexed lookups.
``audit_head``        a single row: tree size and right-edge frontier; locking it sequences
                      appends without gaps.
``audit_checkpoint``  signed (tree size, root, time).

In PostgreSQL the application role may only INSERT and SELECT the first four tables
(:mod:`spe.audit.schema`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, SmallInteger
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from spe.audit.encoding import details_text
from spe.db.types import UTCDateTime


class CanonicalJSON(TypeDecorator):
    """A JSON column whose stored text is the canonical JSON the event's commitment covers
    (PostgreSQL's ``json`` keeps input text verbatim), so the verifier hashes the column as
    stored. Reads back as the parsed object, as ``JSON`` does."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect):
        return details_text


class AuditLeaf(SQLModel, table=True):
    __tablename__ = "audit_leaf"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(SmallInteger, nullable=False))
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    commitment: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_project", "project_id", "seq"),
        Index("ix_audit_event_actor", "actor_id", "seq"),
        Index("ix_audit_event_action", "action", "seq"),
        Index("ix_audit_event_target", "target_type", "target_id", "seq"),
        Index("ix_audit_event_ts", "ts"),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor_type: str = Field(max_length=16)
    actor_id: str = Field(max_length=200)
    actor_role: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=100)
    target_type: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=200)
    project_id: str | None = Field(default=None, max_length=200)
    outcome: str = Field(max_length=16)
    request_id: str | None = Field(default=None, max_length=64)
    trace_id: str | None = Field(default=None, max_length=64)
    client_addr: str | None = Field(default=None, max_length=64)
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(CanonicalJSON()))
    salt: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditNode(SQLModel, table=True):
    __tablename__ = "audit_node"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    index: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    frontier: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditCheckpoint(SQLModel, table=True):
    __tablename__ = "audit_checkpoint"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    ts: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    key_id: str = Field(max_length=32)
    signature: str = Field(max_length=128)
