"""Signed checkpoints: (tree size, root hash, UTC time, key id) signed with Ed25519.

A checkpoint commits the log operator to every event before ``tree_size``: an auditor who
kept one can later demand a consistency proof, so history cannot be rewritten unnoticed.
The signing key lives outside the database (``audit_signing_key_path``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from spe.audit import encoding, merkle
from spe.audit.models import AuditCheckpoint, AuditHead
from spe.crypto.signing import SignatureError, key_id, verify
from spe.errors import NotFound
from spe.messages import Message


class CheckpointError(SignatureError):
    """A checkpoint whose signature or key does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    ts: str  # RFC 3339, as signed
    key_id: str
    signature: str

    def message(self) -> bytes:
        return encoding.checkpoint_bytes(self.tree_size, self.root_hash, self.ts, self.key_id)

    def to_json(self) -> dict:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash.hex(), "ts": self.ts,
                "key_id": self.key_id, "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict) -> Checkpoint:
        return cls(tree_size=int(data["tree_size"]), root_hash=bytes.fromhex(data["root_hash"]),
                   ts=data["ts"], key_id=data["key_id"], signature=data["signature"])

    def to_row(self) -> AuditCheckpoint:
        return AuditCheckpoint(tree_size=self.tree_size, root_hash=self.root_hash,
                               ts=datetime.fromisoformat(self.ts.replace("Z", "+00:00")),
                               key_id=self.key_id, signature=self.signature)

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> Checkpoint:
        return cls(row.tree_size, row.root_hash, encoding.format_ts(row.ts), row.key_id,
                   row.signature)


def verify_checkpoint(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
    """Raise :class:`CheckpointError` unless ``public_key`` signed ``checkpoint``."""
    expected = key_id(public_key)
    if checkpoint.key_id != expected:
        raise CheckpointError(f"checkpoint at size {checkpoint.tree_size} names key "
                              f"{checkpoint.key_id}, not the trusted key {expected}")
    try:
        verify(public_key, checkpoint.message(), checkpoint.signature)
    except SignatureError as exc:
        raise CheckpointError(f"checkpoint at size {checkpoint.tree_size}: {exc}") from exc


def head(session: Session) -> tuple[int, bytes]:
    """The committed tree size and root."""
    row = session.execute(sa_select(AuditHead.size, AuditHead.frontier)).first()
    if row is None:
        return 0, merkle.EMPTY_ROOT
    size, packed = row
    frontier = [packed[i:i + merkle.HASH_SIZE] for i in range(0, len(packed), merkle.HASH_SIZE)]
    return size, merkle.frontier_root(frontier)


def latest_row(session: Session) -> AuditCheckpoint | None:
    return session.exec(select(AuditCheckpoint)
                        .order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()


def latest(session: Session) -> Checkpoint:
    row = latest_row(session)
    if row is None:
        raise NotFound(Message("no audit checkpoint yet"), code="audit.no_checkpoint")
    return Checkpoint.from_row(row)


def at_size(session: Session, tree_size: int) -> Checkpoint:
    row = session.get(AuditCheckpoint, tree_size)
    if row is None:
        raise NotFound(Message("no audit checkpoint at tree size {tree_size}",
                               tree_size=tree_size),
                       code="audit.no_checkpoint")
    return Checkpoint.from_row(row)


def between(session: Session, lo: int, hi: int) -> list[Checkpoint]:
    """Checkpoints with ``lo <= tree_size <= hi``, by size."""
    rows = session.exec(select(AuditCheckpoint)
                        .where(AuditCheckpoint.tree_size >= lo, AuditCheckpoint.tree_size <= hi)
                        .order_by(AuditCheckpoint.tree_size))
    return [Checkpoint.from_row(r) for r in rows]
