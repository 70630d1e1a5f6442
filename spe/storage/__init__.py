"""Object storage: the interface, its two backends, and the choice between them.

``open_store(StorageConfig(...))`` returns the backend named by ``backend``: ``local`` (a
directory, the embedded default) or ``s3`` (any S3-compatible endpoint). The S3 secret key
comes from ``secret_key_file`` (a mounted secret) when given, else from ``secret_key``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from spe.storage.base import (
    AccessDenied,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
)

__all__ = ["AccessDenied", "ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageConfig",
           "StorageError", "StorageUnavailable", "open_store"]


class StorageConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend: Literal["local", "s3"] = "local"
    local_root: Path | None = None
    endpoint: str | None = None
    region: str | None = None
    bucket: str | None = None
    access_key: str | None = None
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    secure: bool = True
    cert_check: bool = True
    connect_timeout_seconds: float = Field(5.0, gt=0)
    read_timeout_seconds: float = Field(20.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _host_and_port(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and ("://" in endpoint or "/" in endpoint):
            raise ValueError("endpoint is host[:port], without scheme or path; "
                             "`secure` chooses https or http")
        return endpoint

    @model_validator(mode="after")
    def _complete(self) -> StorageConfig:
        if self.backend == "local" and self.local_root is None:
            raise ValueError("the local backend needs local_root")
        if self.backend == "s3":
            missing = [name for name in ("endpoint", "bucket", "access_key")
                       if not getattr(self, name)]
            if self.secret_key is None and self.secret_key_file is None:
                missing.append("secret_key or secret_key_file")
            if missing:
                raise ValueError(f"the s3 backend needs {', '.join(missing)}")
        return self

    def resolved_secret_key(self) -> str:
        """The secret from the mounted file if one is configured, else the inline one."""
        if self.secret_key_file is not None:
            try:
                return self.secret_key_file.read_text().strip()
            except OSError as exc:
                raise StorageError(f"cannot read secret_key_file {self.secret_key_file}: "
                                   f"{exc.strerror}") from exc
        if self.secret_key is None:
            raise StorageError("no S3 secret key configured")
        return self.secret_key.get_secret_value()


def open_store(config: StorageConfig) -> ObjectStore:
    if config.backend == "s3":
        from spe.storage.s3 import S3ObjectStore

        return S3ObjectStore(config.endpoint, config.access_key, config.resolved_secret_key(),
                             config.bucket, region=config.region, secure=config.secure,
                             cert_check=config.cert_check,
                             connect_timeout=config.connect_timeout_seconds,
                             read_timeout=config.read_timeout_seconds)
    from spe.storage.local import LocalObjectStore

    return LocalObjectStore(config.local_root)
