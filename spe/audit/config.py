"""The audit log's settings, passed in explicitly (built from :class:`spe.settings.Settings`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from spe.audit.witness import open_witness
from spe.crypto.signing import SigningKey

MIN_RETENTION_DAYS = 366  # EHDS Art. 73(1)(e): logs kept at least one year


@dataclass(frozen=True)
class AuditConfig:
    signing_key_path: Path
    retention_days: int = MIN_RETENTION_DAYS
    checkpoint_interval_seconds: int = 300
    witness: str | None = None  # spe.audit.witness.open_witness

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

    def signer(self) -> SigningKey:
        return SigningKey.load_or_create(self.signing_key_path)

    def open_witness(self, settings=None):
        """The configured witness (:mod:`spe.audit.witness`), or None."""
        if self.witness is None:
            return None
        return open_witness(self.witness, settings)

    @classmethod
    def from_settings(cls, settings) -> AuditConfig:
        return cls(signing_key_path=settings.resolved_audit_signing_key_path,
                   retention_days=settings.audit_retention_days,
                   checkpoint_interval_seconds=settings.audit_checkpoint_interval_seconds,
                   witness=settings.audit_witness)
