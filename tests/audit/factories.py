"""Build audit logs for tests: varied events, with signed checkpoints along the way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from spe.audit import Actor, draft
from spe.audit.encoding import VERSION
from spe.audit.log import append
from spe.audit.signer import CheckpointSigner, create_checkpoint
from spe.crypto.signing import SigningKey

ACTORS = [Actor.user("u-1", "researcher"), Actor.user("u-2", "auditor"),
          Actor.system("reconciler"), Actor.component("hub:p-1")]


def build_log(engine, signer: SigningKey, n: int, checkpoint_at: tuple[int, ...] = (),
              at=None, version: int = VERSION) -> None:
    """``n`` events; a checkpoint after each size in ``checkpoint_at`` and at the end."""
    with Session(engine) as s:
        for i in range(n):
            append(s, [draft(action=f"thing.{'abc'[i % 3]}.done", actor=ACTORS[i % 4],
                             outcome=("success", "denied", "error")[i % 3],
                             target_type="permit" if i % 2 else None, target_id=f"t-{i % 5}",
                             project_id=f"p-{i % 2}", details={"i": i, "note": "é"})], at=at,
                   version=version)
            if i + 1 in checkpoint_at:
                create_checkpoint(s, signer)
        create_checkpoint(s, signer)
        s.commit()


@contextmanager
def running_signer(engine, settings) -> Iterator[CheckpointSigner]:
    """The checkpoint signer of ``settings`` turning in a thread (``spe up`` runs it as a
    child process instead: tests/audit/test_signer.py): what signs the checkpoints an API
    built from ``settings`` asks for."""
    fast = settings.model_copy(update={"audit_signer_poll_seconds": 0.1})
    signer = CheckpointSigner.from_settings(fast, engine)
    stop = threading.Event()
    thread = threading.Thread(target=signer.run_forever, args=(stop,), daemon=True,
                              name="test-audit-signer")
    thread.start()
    try:
        yield signer
    finally:
        stop.set()
        thread.join(timeout=30)
