"""An independent witness that cosigns the log's checkpoints (after C2SP tlog-witness and
tlog-cosignature): someone other than the platform and the database's operator — an
auditor, another institution — runs ``spe audit cosign`` on a schedule with a key of their
own. It reads the checkpoints a witness holds (:mod:`spe.audit.witness`, their chain of
consistency proofs checked), refuses any that is not an extension of the latest it
cosigned before (remembered in its own state folder, so a rewritten witness folder or a
forked log is caught), and writes one cosignature per new checkpoint into that folder.
``spe audit verify --cosignatures FOLDER --cosigner-key KEY`` then requires the log to
extend every checkpoint the cosigner vouched for.

The cosigned message is ``cosignature/v1\\ntime <RFC 3339>\\n`` followed by the checkpoint's
signed message (docs/audit.md), signed with Ed25519: a statement by the cosigner that, at
that time, it had verified the checkpoint consistent with everything it saw before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from spe.audit import encoding
from spe.audit.checkpoints import Checkpoint, verify_checkpoint
from spe.audit.witness import FolderWitness, Witness, WitnessError, witnessed
from spe.crypto.signing import SignatureError, SigningKey, key_id, verify
from spe.db.types import utcnow

TYPE = "spe-audit-cosignature"
SUFFIX = ".cosig.json"


def message(cp: Checkpoint, ts: str) -> bytes:
    return b"cosignature/v1\ntime " + ts.encode() + b"\n" + cp.message()


@dataclass(frozen=True)
class Cosignature:
    checkpoint: Checkpoint
    ts: str
    cosigner: str  # key id
    signature: str

    def to_json(self) -> dict:
        return {"type": TYPE, "v": 1, "checkpoint": self.checkpoint.to_json(), "ts": self.ts,
                "cosigner": self.cosigner, "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict) -> Cosignature:
        if data.get("type") != TYPE or data.get("v") != 1:
            raise ValueError("not a cosignature (version 1)")
        return cls(Checkpoint.from_json(data["checkpoint"]), data["ts"], data["cosigner"],
                   data["signature"])


def cosign(source: Witness, state: Path, log_key: Ed25519PublicKey, key: SigningKey
           ) -> list[Cosignature]:
    """Cosign every checkpoint of ``source`` past the latest one cosigned in ``state``;
    :class:`WitnessError` if the source no longer extends it."""
    seen = witnessed(source, log_key)
    mine = FolderWitness(state)
    done = read(state, log_key, key.public_key)
    last = done[-1].checkpoint if done else None
    if last is not None:
        same = next((cp for cp in seen if cp.tree_size == last.tree_size), None)
        if same is None or same.root_hash != last.root_hash:
            raise WitnessError(f"{source.description} no longer holds the checkpoint at size "
                               f"{last.tree_size} this cosigner vouched for: the log or the "
                               "witness was rewritten")
    out = []
    for cp in seen:
        if last is not None and cp.tree_size <= last.tree_size:
            continue
        ts = encoding.format_ts(utcnow())
        signed = Cosignature(cp, ts, key.key_id, key.sign(message(cp, ts)))
        mine.put(f"{cp.tree_size:020d}{SUFFIX}",
                 json.dumps(signed.to_json(), sort_keys=True).encode() + b"\n")
        out.append(signed)
    return out


def read(state: Path, log_key: Ed25519PublicKey, cosigner: Ed25519PublicKey
         ) -> list[Cosignature]:
    """The cosignatures in ``state`` by size, each checked: the cosigner's signature, the
    log's signature, and sizes rising with consistent roots are the cosigner's own promise
    (it only signs extensions), checked again by the verifier against the log."""
    out = []
    for path in sorted(state.glob(f"*{SUFFIX}")) if state.is_dir() else []:
        try:
            cs = Cosignature.from_json(json.loads(path.read_text(encoding="utf-8")))
            verify_checkpoint(cs.checkpoint, log_key)
            if cs.cosigner != key_id(cosigner):
                raise SignatureError(f"cosigned by {cs.cosigner}, not {key_id(cosigner)}")
            verify(cosigner, message(cs.checkpoint, cs.ts), cs.signature)
        except (OSError, ValueError, KeyError, TypeError, SignatureError) as exc:
            raise WitnessError(f"cosignature {path.name}: {exc}") from exc
        out.append(cs)
    return out
