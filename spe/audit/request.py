"""Asking the checkpoint signer for a checkpoint, from a process without the signing key.

The API signs nothing: it records a :data:`~spe.audit.signer.REQUEST_ACTION` event (in the
caller's transaction, which then commits), and waits until a checkpoint covers it. The
signer's next turn (:func:`spe.audit.signer.maybe_checkpoint`) sees the request and signs
the head, request included, after verifying the log itself.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from spe.audit.checkpoints import Checkpoint
from spe.audit.config import SignerUnavailable
from spe.audit.events import Actor
from spe.audit.log import Recorded, record
from spe.audit.models import AuditCheckpoint
from spe.audit.signer import REQUEST_ACTION
from spe.messages import Message

POLL_SECONDS = 0.05


def ask(session: Session, actor: Actor, reason: str) -> Recorded:
    """Record the request for a checkpoint (no commit); its ``seq`` is known once the
    caller's transaction commits."""
    return record(session, action=REQUEST_ACTION, actor=actor, target_type="checkpoint",
                  details={"for": reason})


def await_checkpoint(engine: Engine, seq: int, wait: float) -> Checkpoint:
    """The first checkpoint covering event ``seq``, once the signer has made it;
    :class:`SignerUnavailable` after ``wait`` seconds without one."""
    deadline = time.monotonic() + wait
    while True:
        with Session(engine) as session:  # a fresh snapshot each time
            row = session.exec(select(AuditCheckpoint).where(AuditCheckpoint.tree_size > seq)
                               .order_by(AuditCheckpoint.tree_size).limit(1)).first()
            if row is not None:
                return Checkpoint.from_row(row)
        if time.monotonic() >= deadline:
            raise SignerUnavailable(
                Message("the checkpoint signer has not signed the checkpoint asked for "
                        "(event {seq}) within {wait:g} s: is `spe audit signer` running? "
                        "(its log says why it refused, if it did)", seq=seq, wait=wait))
        time.sleep(POLL_SECONDS)
