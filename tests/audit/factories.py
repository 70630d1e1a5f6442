"""Build audit logs for tests: varied events, with signed checkpoints along the way."""

from __future__ import annotations

from sqlmodel import Session

from spe.audit import Actor, draft
from spe.audit.encoding import VERSION
from spe.audit.log import append
from spe.audit.signer import create_checkpoint
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
