"""The audit log's settings, passed in explicitly (from the settings' audit section).

The signing key (``signing_key_path``) is read only by the checkpoint signer
(:class:`spe.audit.signer.CheckpointSigner`); every other process reads the public key
(``public_key_path``), which the operator places beside the API's keys, or, in development,
the signer writes there when it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from spe.audit.witness import open_witness
from spe.crypto.signing import SigningKey, load_public_key, public_key_pem
from spe.errors import Misconfigured
from spe.fs import private_file
from spe.messages import Message

MIN_RETENTION_DAYS = 366  # EHDS Art. 73(1)(e): logs kept at least one year


@dataclass(frozen=True)
class AuditConfig:
    signing_key_path: Path
    public_key_path: Path | None = None
    retention_days: int = MIN_RETENTION_DAYS
    checkpoint_interval_seconds: int = 300
    witness: str | None = None  # spe.audit.witness.open_witness
    signer_poll_seconds: float = 1.0
    signer_wait_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.retention_days < MIN_RETENTION_DAYS:
            raise ValueError(f"audit retention must be at least {MIN_RETENTION_DAYS} days")

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)

    @property
    def checkpoint_interval(self) -> timedelta:
        return timedelta(seconds=self.checkpoint_interval_seconds)

    @property
    def max_unsigned_age(self) -> timedelta:
        """How old a leaf may be without a signed checkpoint covering it: two intervals
        and a minute, for the scheduler's turn to come round."""
        return 2 * self.checkpoint_interval + timedelta(minutes=1)

    @property
    def resolved_public_key_path(self) -> Path:
        return self.public_key_path or self.signing_key_path.with_name("audit-ed25519.pub.pem")

    def signer(self) -> SigningKey:
        """The signing key (created if absent): for the checkpoint signer only."""
        return SigningKey.load_or_create(self.signing_key_path)

    def public_key(self) -> Ed25519PublicKey:
        """The key that verifies checkpoints, from ``public_key_path`` (never from the
        signing key); :class:`SignerUnavailable` while there is none."""
        path = self.resolved_public_key_path
        try:
            stat = path.stat()
        except OSError as exc:
            raise SignerUnavailable(
                Message("no audit public key at {path} (SPE_AUDIT_PUBLIC_KEY_PATH) yet: it "
                        "is written by the checkpoint signer (`spe audit signer`) in "
                        "development, and mounted beside the API's keys in production",
                        path=path)) from exc
        return _read_public_key(str(path), stat.st_mtime_ns, stat.st_size)

    def publish_public_key(self, key: SigningKey) -> None:
        """Write ``key``'s public half to ``public_key_path`` if it is not there (what the
        signer does in development; in production the operator mounts it)."""
        path = self.resolved_public_key_path
        if path.exists():
            return
        temporary = private_file(path.with_name(f".{path.name}.{os.getpid()}"))
        temporary.write_text(public_key_pem(key.public_key), encoding="utf-8")
        temporary.replace(path)  # whole or absent, for a reader in another process

    def open_witness(self, settings=None):
        """The configured witness (:mod:`spe.audit.witness`), or None."""
        if self.witness is None:
            return None
        return open_witness(self.witness, settings)

    @classmethod
    def from_settings(cls, settings) -> AuditConfig:
        """The settings' audit section (``SPE_AUDIT_*``)."""
        audit = settings.audit
        return cls(**{f.name: getattr(audit, f.name) for f in fields(cls)})


class SignerUnavailable(Misconfigured):
    """No checkpoint signer has answered (no public key yet, or no checkpoint in time)."""

    default_code = "audit.signer_unavailable"


@lru_cache(maxsize=4)
def _read_public_key(path: str, _mtime_ns: int, _size: int) -> Ed25519PublicKey:
    """The public key file, read again only when it changes (not on every request)."""
    return load_public_key(Path(path).read_bytes())
