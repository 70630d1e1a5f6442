"""Signing a new checkpoint: verify the log first, then sign, then hand it to the witness.

:mod:`spe.audit.checkpoints` is the checkpoint itself (its bytes, its signature, the stored
ones); this module is the act that adds one, which needs the verifier and the witness, and
the checkpoint signer (:class:`CheckpointSigner`, ``spe audit signer``): the one process that
holds the audit signing key. The API never does: it verifies with the public key alone
(:func:`verify_before_signing`) and asks the signer for a checkpoint by recording a
:data:`REQUEST_ACTION` event (:mod:`spe.audit.request`), which the signer's next turn signs
over. A compromise of the API (which holds the database credentials) thus cannot forge a
checkpoint over a rewritten log.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

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
from spe.audit.config import MIN_RETENTION_DAYS, AuditConfig
from spe.audit.models import AuditCheckpoint, AuditEvent
from spe.audit.service import fetcher
from spe.audit.verify import verify_tail
from spe.audit.witness import Witness, WitnessError, WitnessUnavailable, publish
from spe.audit.witness import latest as latest_witnessed
from spe.crypto.signing import SigningKey
from spe.db import session_scope
from spe.db.types import utcnow
from spe.errors import Conflict
from spe.messages import Message

log = logging.getLogger(__name__)
RETENTION = timedelta(days=MIN_RETENTION_DAYS)
REQUEST_ACTION = "audit.checkpoint.request"
"""The event by which a process without the key asks the signer for a checkpoint now."""
RUNNING = "audit checkpoint signer running"
"""How ``spe audit signer`` says it has its key and turns (``spe up`` waits for it)."""


def create_checkpoint(session: Session, signer: SigningKey, *, witness: Witness | None = None,
                      retention: timedelta = RETENTION) -> Checkpoint:
    """Sign the current head; returns the existing checkpoint if the log has not grown.

    Nothing is signed over a log that does not verify (:func:`verify_before_signing`: a
    :class:`Conflict` refuses a broken log, one shorter than a witnessed checkpoint, or one
    that forked from it). The new checkpoint, and any the witness missed, are then written
    to the witness; a witness that cannot be reached just now is logged and caught up next
    time."""
    size, root = head(session)
    witnessed = verify_before_signing(session, signer.public_key, witness=witness,
                                      retention=retention)
    existing = session.get(AuditCheckpoint, size)
    if existing is not None:
        cp = Checkpoint.from_row(existing)
    else:
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


def verify_before_signing(session: Session, public_key: Ed25519PublicKey, *,
                          witness: Witness | None = None, retention: timedelta = RETENTION
                          ) -> Checkpoint | None:
    """What must hold before the head is signed, checked with the public key alone (so the
    API, which never holds the signing key, refuses a broken log itself, and the signer
    checks it again): the leaves since the last checkpoint known good (the ``witness``'s
    latest, else the database's) verify up to the head (:func:`spe.audit.verify.verify_tail`).
    A :class:`Conflict` refuses an empty log, a broken one, one shorter than a witnessed
    checkpoint, or one that forked from it. Returns the witness's latest checkpoint."""
    size, _ = head(session)
    if size == 0:
        raise Conflict(Message("the audit log is empty: nothing to checkpoint"),
                       code="audit.empty_log")
    base, witnessed = _known_good(session, public_key, witness)
    if session.get(AuditCheckpoint, size) is None:
        try:
            verify_tail(session, public_key, base, utcnow() - retention)
        except VerificationError as exc:
            raise Conflict(Message("refusing to sign a checkpoint: the audit log does not "
                                   "verify from the checkpoint at size {size}: {exc}",
                                   size=base.tree_size if base else 0, exc=exc),
                           code="audit.log_broken") from exc
    return witnessed


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
        raise Conflict(Message("refusing the checkpoint: {exc}", exc=exc),
                       code="audit.witness_conflict") from exc


def _known_good(session: Session, public_key: Ed25519PublicKey, witness: Witness | None
                ) -> tuple[Checkpoint | None, Checkpoint | None]:
    """Where verification before signing starts, and the witness's latest checkpoint."""
    row = latest_row(session)
    stored = None if row is None else Checkpoint.from_row(row)
    if stored is not None:
        try:
            verify_checkpoint(stored, public_key)
        except CheckpointError as exc:
            raise Conflict(Message("refusing to sign a checkpoint: the latest one in the "
                                   "database does not verify: {exc}", exc=exc),
                           code="audit.log_broken") from exc
    witnessed = None
    if witness is not None:
        try:
            witnessed = latest_witnessed(witness, public_key,
                                         stored.tree_size if stored else None)
        except WitnessUnavailable as exc:
            log.warning("audit witness unavailable, verifying from the database's latest "
                        "checkpoint: %s", exc)
        except WitnessError as exc:
            raise Conflict(Message("refusing to sign a checkpoint: {exc}", exc=exc),
                           code="audit.witness_conflict") from exc
    return (witnessed or stored), witnessed


def pending_request(session: Session, since: int) -> bool:
    """Whether a checkpoint was asked for (a :data:`REQUEST_ACTION` event, not a refused
    one) at or after leaf ``since``: the latest checkpoint's size, so not covered yet."""
    return session.exec(select(AuditEvent.seq).where(
        AuditEvent.action == REQUEST_ACTION, AuditEvent.seq >= since,
        AuditEvent.outcome == "success").limit(1)).first() is not None


def maybe_checkpoint(session: Session, signer: SigningKey, interval: timedelta,
                     now: datetime | None = None, *, witness: Witness | None = None,
                     retention: timedelta = RETENTION) -> Checkpoint | None:
    """The signer's tick: checkpoint if the log grew and either the last checkpoint is
    ``interval`` old or someone asked for one since (:func:`pending_request`)."""
    last = latest_row(session)
    size, _ = head(session)
    if size == 0 or (last is not None and last.tree_size == size):
        return None
    if last is not None and (now or utcnow()) - last.ts < interval \
            and not pending_request(session, last.tree_size):
        return None
    return create_checkpoint(session, signer, witness=witness, retention=retention)


class CheckpointSigner:
    """The checkpoint signer's loop (``spe audit signer``, also a child process of ``spe
    up``): every ``poll`` seconds a :func:`maybe_checkpoint` turn, with the key it alone
    holds."""

    def __init__(self, engine: Engine, key: SigningKey, *, interval: timedelta,
                 retention: timedelta = RETENTION, witness: Witness | None = None,
                 poll: float = 1.0) -> None:
        self.engine, self.key, self.interval = engine, key, interval
        self.retention, self.witness, self.poll = retention, witness, poll

    @classmethod
    def from_settings(cls, settings, engine: Engine) -> CheckpointSigner:
        """The signer of ``settings``, its key loaded (created in development, its public
        half then published for the API; in production both are the operator's)."""
        config = AuditConfig.from_settings(settings)
        key = config.signer()
        if settings.environment != "production":
            config.publish_public_key(key)
        return cls(engine, key, interval=config.checkpoint_interval,
                   retention=config.retention, witness=config.open_witness(settings),
                   poll=config.signer_poll_seconds)

    def tick(self) -> Checkpoint | None:
        with session_scope(self.engine) as session:  # refuses a log that does not verify
            return maybe_checkpoint(session, self.key, self.interval, witness=self.witness,
                                    retention=self.retention)

    def run_forever(self, stop: threading.Event) -> None:
        """Turn until ``stop`` is set; a refused or failed turn is logged and retried."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad turn must not end the loop
                log.exception("audit checkpoint signing failed")
            stop.wait(self.poll)
