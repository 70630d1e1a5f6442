"""Signing a new checkpoint: verify the log first, then sign, then hand it to the witness.

:mod:`spe.audit.checkpoints` is the checkpoint itself (its bytes, its signature, the stored
ones); this module is the act that adds one, which needs the verifier and the witness.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from spe.audit import encoding
from spe.audit.checkpoints import (
    Checkpoint,
    CheckpointError,
    between,
    head,
    latest_row,
    verify_checkpoint,
)
from spe.audit.checks import VerificationError
from spe.audit.config import MIN_RETENTION_DAYS
from spe.audit.models import AuditCheckpoint
from spe.audit.service import fetcher
from spe.audit.verify import verify_tail
from spe.audit.witness import Witness, WitnessError, WitnessUnavailable, publish
from spe.audit.witness import latest as latest_witnessed
from spe.crypto.signing import SigningKey
from spe.db.types import utcnow
from spe.errors import Conflict

log = logging.getLogger(__name__)
RETENTION = timedelta(days=MIN_RETENTION_DAYS)


def create_checkpoint(session: Session, signer: SigningKey, *, witness: Witness | None = None,
                      retention: timedelta = RETENTION) -> Checkpoint:
    """Sign the current head; returns the existing checkpoint if the log has not grown.

    Nothing is signed over a log that does not verify: first the leaves since the last
    checkpoint known good (the ``witness``'s latest, else the database's) are verified up
    to the head (:func:`spe.audit.verify.verify_tail`), and a :class:`Conflict` refuses a
    broken log, one shorter than a witnessed checkpoint, or one that forked from it. The
    new checkpoint, and any the witness missed, are then written to the witness; a
    witness that cannot be reached just now is logged and caught up next time."""
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
