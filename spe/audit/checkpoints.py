"""Signed checkpoints: (tree size, root hash, UTC time, key id) signed with Ed25519.

A checkpoint commits the log operator to every event before ``tree_size``: an auditor who
kept one can later demand a consistency proof, so history cannot be rewritten unnoticed.
The signing key lives outside the database (``audit_signing_key_path``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from spe.audit import encoding, merkle
from spe.audit.checks import VerificationError
from spe.audit.config import MIN_RETENTION_DAYS
from spe.audit.models import AuditCheckpoint, AuditHead
from spe.crypto.signing import SignatureError, SigningKey, key_id, verify
from spe.db.types import utcnow
from spe.errors import Conflict, NotFound

if TYPE_CHECKING:
    from spe.audit.witness import Witness

log = logging.getLogger(__name__)
RETENTION = timedelta(days=MIN_RETENTION_DAYS)


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


def create_checkpoint(session: Session, signer: SigningKey, *, witness: Witness | None = None,
                      retention: timedelta = RETENTION) -> Checkpoint:
    """Sign the current head; returns the existing checkpoint if the log has not grown.

    Nothing is signed over a log that does not verify: first the leaves since the last
    checkpoint known good (the ``witness``'s latest, else the database's) are verified up
    to the head (:func:`spe.audit.verify.verify_tail`), and a :class:`Conflict` refuses a
    broken log, one shorter than a witnessed checkpoint, or one that forked from it. The
    new checkpoint, and any the witness missed, are then written to the witness; a
    witness that cannot be reached just now is logged and caught up next time."""
    from spe.audit.verify import verify_tail

    size, root = head(session)
    if size == 0:
        raise Conflict("the audit log is empty: nothing to checkpoint",
                       code="audit.empty_log")
    base, witnessed = _known_good(session, signer, witness)
    existing = session.get(AuditCheckpoint, size)
    if existing is not None:
        cp = Checkpoint.from_row(existing)
    else:
        try:
            verify_tail(session, signer.public_key, base, utcnow() - retention)
        except VerificationError as exc:
            raise Conflict(f"refusing to sign a checkpoint: the audit log does not verify "
                           f"from the checkpoint at size {base.tree_size if base else 0}: "
                           f"{exc}", code="audit.log_broken") from exc
        if witnessed is not None and session.get(AuditCheckpoint, witnessed.tree_size) is None:
            # witnessed, then its transaction failed to commit: the log extends it (verified
            # just now), so keep it, or verification would take it for a deleted one
            session.add(witnessed.to_row())
            if witnessed.tree_size == size:
                return witnessed
        ts = utcnow()
        stamp = encoding.format_ts(ts)
        signature = signer.sign(encoding.checkpoint_bytes(size, root, stamp, signer.key_id))
        session.add(AuditCheckpoint(tree_size=size, root_hash=root, ts=ts,
                                    key_id=signer.key_id, signature=signature))
        session.flush()
        cp = Checkpoint(size, root, stamp, signer.key_id, signature)
    if witness is not None:
        _publish(session, witness, signer, witnessed, cp)
    return cp


def _publish(session: Session, witness: Witness, signer: SigningKey,
             witnessed: Checkpoint | None, cp: Checkpoint) -> None:
    """Write ``cp`` and the checkpoints the witness missed since its latest."""
    from spe.audit.service import fetcher
    from spe.audit.witness import WitnessError, WitnessUnavailable, publish

    pending = between(session, witnessed.tree_size + 1, cp.tree_size) if witnessed else [cp]
    try:
        publish(witness, pending, fetcher(session), signer.public_key,
                witnessed.tree_size if witnessed else None)
    except WitnessUnavailable as exc:
        log.warning("audit checkpoint at size %d not witnessed yet: %s", cp.tree_size, exc)
    except WitnessError as exc:
        raise Conflict(f"refusing the checkpoint: {exc}",
                       code="audit.witness_conflict") from exc


def _known_good(session: Session, signer: SigningKey, witness: Witness | None
                ) -> tuple[Checkpoint | None, Checkpoint | None]:
    """Where verification before signing starts, and the witness's latest checkpoint."""
    from spe.audit.witness import WitnessError, WitnessUnavailable
    from spe.audit.witness import latest as latest_witnessed

    row = latest_row(session)
    stored = None if row is None else Checkpoint.from_row(row)
    if stored is not None:
        try:
            verify_checkpoint(stored, signer.public_key)
        except CheckpointError as exc:
            raise Conflict(f"refusing to sign a checkpoint: the latest one in the database "
                           f"does not verify: {exc}", code="audit.log_broken") from exc
    witnessed = None
    if witness is not None:
        try:
            witnessed = latest_witnessed(witness, signer.public_key,
                                         stored.tree_size if stored else None)
        except WitnessUnavailable as exc:
            log.warning("audit witness unavailable, verifying from the database's latest "
                        "checkpoint: %s", exc)
        except WitnessError as exc:
            raise Conflict(f"refusing to sign a checkpoint: {exc}",
                           code="audit.witness_conflict") from exc
    return (witnessed or stored), witnessed


def maybe_checkpoint(session: Session, signer: SigningKey, interval: timedelta,
                     now: datetime | None = None, *, witness: Witness | None = None,
                     retention: timedelta = RETENTION) -> Checkpoint | None:
    """The scheduler's tick: checkpoint if the log grew and the last one is ``interval`` old."""
    last = latest_row(session)
    size, _ = head(session)
    if size == 0 or (last is not None and last.tree_size == size):
        return None
    if last is not None and (now or utcnow()) - last.ts < interval:
        return None
    return create_checkpoint(session, signer, witness=witness, retention=retention)


def latest_row(session: Session) -> AuditCheckpoint | None:
    return session.exec(select(AuditCheckpoint)
                        .order_by(AuditCheckpoint.tree_size.desc()).limit(1)).first()


def latest(session: Session) -> Checkpoint:
    row = latest_row(session)
    if row is None:
        raise NotFound("no audit checkpoint yet", code="audit.no_checkpoint")
    return Checkpoint.from_row(row)


def at_size(session: Session, tree_size: int) -> Checkpoint:
    row = session.get(AuditCheckpoint, tree_size)
    if row is None:
        raise NotFound(f"no audit checkpoint at tree size {tree_size}",
                       code="audit.no_checkpoint")
    return Checkpoint.from_row(row)


def between(session: Session, lo: int, hi: int) -> list[Checkpoint]:
    """Checkpoints with ``lo <= tree_size <= hi``, by size."""
    rows = session.exec(select(AuditCheckpoint)
                        .where(AuditCheckpoint.tree_size >= lo, AuditCheckpoint.tree_size <= hi)
                        .order_by(AuditCheckpoint.tree_size))
    return [Checkpoint.from_row(r) for r in rows]
