"""Object storage: the interface, its two backends, and the choice between them.

``open_store(settings.storage)`` (a :class:`StorageConfig`, the storage section of the
settings) returns the backend named by ``backend``: ``local`` (a
directory, the embedded default) or ``s3`` (any S3-compatible endpoint). The S3 secret key
comes from ``secret_key_file`` (a mounted secret) when given, else from ``secret_key``.
"""

from __future__ import annotations

from spe.settings import StorageSettings as StorageConfig
from spe.storage.base import (
    AccessDenied,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
)

__all__ = ["AccessDenied", "ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageConfig",
           "StorageError", "StorageUnavailable", "open_store", "resolved_secret_key"]


def resolved_secret_key(config: StorageConfig) -> str:
    """The secret from the mounted file if one is configured, else the inline one."""
    if config.secret_key_file is not None:
        try:
            return config.secret_key_file.read_text().strip()
        except OSError as exc:
            raise StorageError(f"cannot read secret_key_file {config.secret_key_file}: "
                               f"{exc.strerror}") from exc
    if config.secret_key is None:
        raise StorageError("no S3 secret key configured")
    return config.secret_key.get_secret_value()


def open_store(config: StorageConfig) -> ObjectStore:
    if config.backend == "s3":
        from spe.storage.s3 import S3ObjectStore

        return S3ObjectStore(config.endpoint, config.access_key, resolved_secret_key(config),
                             config.bucket, region=config.region, secure=config.secure,
                             cert_check=config.cert_check,
                             connect_timeout=config.connect_timeout_seconds,
                             read_timeout=config.read_timeout_seconds)
    from spe.storage.local import LocalObjectStore

    return LocalObjectStore(config.local_root)
