"""The data plane's parts, built from settings: object store, key store, secrets, keys.

Each secret is a file under ``<data_dir>/keys/`` by default, created on first use for the
embedded platform. In production the pseudonymisation master secret must be provided (a
mounted secret): creating one silently would give every permit new, unlinkable pseudonyms
the day the volume is lost, so a missing file is refused (:class:`MissingSecret`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from spe.crypto.signing import SigningKey
from spe.data.pseudonymise import MIN_SECRET_BYTES
from spe.errors import SpeError
from spe.keys import LocalKeyStore
from spe.settings import Settings
from spe.storage import ObjectStore, StorageConfig, open_store

GRANT_KEY_BYTES = 32


class MissingSecret(SpeError):
    """A secret the data plane needs is absent or too short."""

    status = 500
    default_code = "dataplane.missing_secret"


def storage_config(settings: Settings) -> StorageConfig:
    return StorageConfig(
        backend=settings.storage_backend,
        local_root=settings.storage_local_root or settings.data_dir / "objects",
        endpoint=settings.storage_endpoint, region=settings.storage_region,
        bucket=settings.storage_bucket, access_key=settings.storage_access_key,
        secret_key=settings.storage_secret_key,
        secret_key_file=settings.storage_secret_key_file,
        secure=settings.storage_secure, cert_check=settings.storage_cert_check)


def object_store(settings: Settings) -> ObjectStore:
    return open_store(storage_config(settings))


def key_store(settings: Settings) -> LocalKeyStore:
    return LocalKeyStore(settings.key_store_path or settings.keys_dir / "data-keys",
                         kek_path=settings.kek_path or settings.keys_dir / "kek.key")


def signing_key(settings: Settings) -> SigningKey:
    """Signs extract manifests and crypto-shredding records."""
    return SigningKey.load_or_create(settings.extract_signing_key_path
                                     or settings.keys_dir / "extract-ed25519.pem")


def master_secret(settings: Settings) -> bytes:
    """The pseudonymisation master secret; created in development, required in production."""
    path = settings.pseudonymisation_secret_path or settings.keys_dir / "pseudonymisation.key"
    if not path.exists():
        if settings.environment == "production":
            raise MissingSecret(f"the pseudonymisation master secret {path} is missing; "
                                "mount it (SPE_PSEUDONYMISATION_SECRET_PATH)")
        _create_secret(path, MIN_SECRET_BYTES)
    secret = path.read_bytes()
    if len(secret) < MIN_SECRET_BYTES:
        raise MissingSecret(f"{path} holds {len(secret)} bytes; the pseudonymisation master "
                            f"secret needs at least {MIN_SECRET_BYTES}")
    return secret


def grant_key(settings: Settings) -> bytes:
    """The HMAC key of extract grants (control plane only; rotating it voids open grants)."""
    path = settings.keys_dir / "extract-grant.key"
    if not path.exists():
        _create_secret(path, GRANT_KEY_BYTES)
    return path.read_bytes()


def _create_secret(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(size))
