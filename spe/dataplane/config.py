"""The data plane's parts, built from settings: object store, key store, secrets, keys.

Every key file of the platform lives under ``SPE_KEYS_DIR`` (default ``<data_dir>/keys``)
unless its own setting places it elsewhere (``settings.keys.files``, a :class:`KeyPaths`).
In development each file is created on first use. In production every process must read the
same keys (API replicas and the controller), so they come from mounted Secrets and a
missing file is refused, never created (:class:`MissingSecret`): a key made up by one pod
would seal secrets no other pod can open, sign with a key nobody trusts, or, for the
pseudonymisation secret, give every permit new, unlinkable pseudonyms.
:func:`create_key_files` makes the files an operator puts in those Secrets
(docs/production.md).

Each process needs only some of the keys (:data:`KEY_USERS`): the API never needs the
pseudonymisation secret nor the audit signing key (only its public half), the controller
never the audit, release or hub keys, and the checkpoint signer (``spe audit signer``) only
the audit signing key, so each mounts only its own and a compromise of one exposes fewer.
At start-up (:func:`require_key_files`) every key the process uses that exists is also
checked for length and type, in every environment: a 1-byte grant key or a 16-byte
pseudonymisation secret is refused with the file and what it needs, not warned about.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import RSAKey

from spe.crypto.jwk import load_signing_key
from spe.crypto.secretbox import SecretBox
from spe.crypto.signing import SigningKey, public_key_pem
from spe.data.pseudonymise import MIN_SECRET_BYTES
from spe.errors import SpeError
from spe.fs import private_folder
from spe.keys import KeyStore, LocalKeyStore
from spe.keys.local import KEK_BYTES, load_or_create_kek
from spe.messages import Message
from spe.settings import KeyPaths, Settings
from spe.storage import ObjectStore, open_store

GRANT_KEY_BYTES = 32
RSA_MIN_BITS = 2048
Process = Literal["api", "controller", "signer"]


class MissingSecret(SpeError):
    """A secret the platform needs is absent or too short."""

    status = 500
    default_code = "dataplane.missing_secret"


KEY_SETTINGS = {
    "secret_box": "SPE_KEYS_DIR",
    "hub_oidc": "SPE_KEYS_DIR",
    "audit_signing": "SPE_AUDIT_SIGNING_KEY_PATH",
    "audit_public": "SPE_AUDIT_PUBLIC_KEY_PATH",
    "release_signing": "SPE_RELEASE_SIGNING_KEY_PATH",
    "extract_signing": "SPE_EXTRACT_SIGNING_KEY_PATH",
    "extract_grant": "SPE_KEYS_DIR",
    "kek": "SPE_KEK_PATH",
    "pseudonymisation": "SPE_PSEUDONYMISATION_SECRET_PATH",
}
"""The setting that places each key file (``SPE_KEYS_DIR`` when it has no setting of its
own)."""

KEY_USERS: dict[str, frozenset[str]] = {
    "secret_box": frozenset({"api", "controller"}),  # hubs' client secrets: API + reconciler
    "hub_oidc": frozenset({"api"}),  # the API's OpenID provider for the hubs
    "audit_signing": frozenset({"signer"}),  # checkpoints: `spe audit signer` alone
    "audit_public": frozenset({"api"}),  # the API verifies the log before asking for one
    "release_signing": frozenset({"api"}),  # egress releases
    "extract_signing": frozenset({"api", "controller"}),  # controller signs, API verifies
    "extract_grant": frozenset({"api", "controller"}),  # controller issues, API checks
    "kek": frozenset({"api", "controller"}),  # controller wraps, API unwraps to serve files
    "pseudonymisation": frozenset({"controller"}),  # extracts are made by the controller
}
"""Which process reads each key file: what its pods must mount, and no more."""


def _check_secret(minimum: int, exact: bool = False):
    def check(data: bytes) -> str | None:
        if len(data) < minimum or (exact and len(data) != minimum):
            return (f"holds {len(data)} bytes; it needs {'exactly' if exact else 'at least'} "
                    f"{minimum} random bytes")
        return None
    return check


def _check_fernet(data: bytes) -> str | None:
    try:
        Fernet(data.strip())
    except ValueError:
        return "is not a Fernet key (32 bytes, url-safe base64)"
    return None


def _check_rsa_jwk(data: bytes) -> str | None:
    try:
        with warnings.catch_warnings():  # joserfc warns of a short key; refused below instead
            warnings.simplefilter("ignore", SecurityWarning)
            key = RSAKey.import_key(json.loads(data))
        bits = key.raw_value.key_size
    except (JoseError, ValueError, TypeError, AttributeError) as exc:
        return f"is not a private RSA JWK ({type(exc).__name__})"
    if not key.is_private:
        return "holds a public RSA key, not a private one"
    return f"is a {bits}-bit RSA key; it needs at least {RSA_MIN_BITS}" \
        if bits < RSA_MIN_BITS else None


def _check_ed25519_public(data: bytes) -> str | None:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        return f"is not a PEM public key ({type(exc).__name__})"
    return None if isinstance(key, Ed25519PublicKey) else "is not an Ed25519 public key"


def _check_ed25519(data: bytes) -> str | None:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        return f"is not an unencrypted PEM private key ({type(exc).__name__})"
    return None if isinstance(key, Ed25519PrivateKey) else "is not an Ed25519 private key"


KEY_CHECKS = {
    "secret_box": _check_fernet,
    "hub_oidc": _check_rsa_jwk,
    "audit_signing": _check_ed25519,
    "audit_public": _check_ed25519_public,
    "release_signing": _check_ed25519,
    "extract_signing": _check_ed25519,
    "extract_grant": _check_secret(GRANT_KEY_BYTES),
    "kek": _check_secret(KEK_BYTES, exact=True),
    "pseudonymisation": _check_secret(MIN_SECRET_BYTES),
}
"""Each key file's minimum: its length, or that it is a key of the expected type and size;
a check returns what is wrong, or None."""


def require_key_file(settings: Settings, name: str) -> Path:
    """The path of key file ``name`` (a :class:`KeyPaths` field); in production, refused
    with :class:`MissingSecret` when the file does not exist, so that nothing creates it."""
    path = getattr(settings.keys.files, name)
    if settings.environment == "production" and not path.exists():
        raise MissingSecret(_missing([name], settings))
    return path


def require_key_files(settings: Settings, process: Process) -> None:
    """Refuse to start unless the key files ``process`` uses (:data:`KEY_USERS`) are fit:
    each present one long enough and of its type (:data:`KEY_CHECKS`), and, in production,
    every one present. Called at start-up by the API and the controller, so a bad or
    missing key is found before any request needs it."""
    paths = {name: Path(path) for name, path in dataclasses.asdict(settings.keys.files).items()
             if process in KEY_USERS[name]}
    if settings.keys.store == "pkcs11":
        paths.pop("kek", None)  # the HSM holds the key-encryption keys
    missing = [name for name, path in paths.items() if not path.exists()]
    if missing and settings.environment == "production":
        raise MissingSecret(_missing(missing, settings))
    for name, path in paths.items():
        if name not in missing:
            check_key_file(name, path)


def check_key_file(name: str, path: Path) -> None:
    """:class:`MissingSecret` if key file ``name`` at ``path`` is too short or not a key of
    its type."""
    problem = KEY_CHECKS[name](path.read_bytes())
    if problem:
        raise MissingSecret(Message("the key file {path} ({KEY_SETTINGS}) {problem}; make "
                                    "one with create_key_files (docs/production.md)", path=path,
                                    KEY_SETTINGS=KEY_SETTINGS[name], problem=problem))


def _missing(names: list[str], settings: Settings) -> Message:
    paths = settings.keys.files
    listed = ", ".join(f"{getattr(paths, name)} ({KEY_SETTINGS[name]})" for name in names)
    return Message("missing key file(s): {listed}; production never creates key files: make "
                   "them once with create_key_files and mount them (docs/production.md)",
                   listed=listed)


def create_key_files(directory: str | Path) -> list[Path]:
    """Create every key file missing from ``directory`` under its default name, mode 0600;
    return those created. What an operator runs once to fill the keys Secrets: the audit
    signing key goes into the checkpoint signer's Secret alone, its public half
    (``audit-ed25519.pub.pem``) into the API's (docs/production.md)."""
    paths = KeyPaths.in_directory(Path(directory))
    missing = [Path(p) for p in dataclasses.asdict(paths).values() if not Path(p).exists()]
    SecretBox.load_or_create(paths.secret_box)
    load_signing_key(paths.hub_oidc)
    for signing in (paths.audit_signing, paths.release_signing, paths.extract_signing):
        SigningKey.load_or_create(signing)
    if not paths.audit_public.exists():
        paths.audit_public.write_text(public_key_pem(
            SigningKey.load_or_create(paths.audit_signing).public_key), encoding="utf-8")
        paths.audit_public.chmod(0o600)
    _create_secret(paths.extract_grant, GRANT_KEY_BYTES)
    load_or_create_kek(paths.kek)
    _create_secret(paths.pseudonymisation, MIN_SECRET_BYTES)
    return missing


def object_store(settings: Settings) -> ObjectStore:
    return open_store(settings.storage)


def key_store(settings: Settings) -> KeyStore:
    keys = settings.keys
    if keys.store == "pkcs11":
        from spe.keys.pkcs11 import Pkcs11KeyStore

        try:
            pin = keys.pkcs11_pin_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise MissingSecret(Message("cannot read the HSM PIN file {pkcs11_pin_file} "
                                        "(SPE_PKCS11_PIN_FILE): {strerror}",
                                        pkcs11_pin_file=keys.pkcs11_pin_file,
                                        strerror=exc.strerror)) from exc
        return Pkcs11KeyStore(keys.store_path, keys.pkcs11_library, keys.pkcs11_token_label,
                              pin)
    return LocalKeyStore(keys.store_path, kek_path=require_key_file(settings, "kek"))


def signing_key(settings: Settings) -> SigningKey:
    """Signs extract manifests and crypto-shredding records."""
    return SigningKey.load_or_create(require_key_file(settings, "extract_signing"))


def master_secret(settings: Settings) -> bytes:
    """The pseudonymisation master secret; created in development, required in production."""
    path = require_key_file(settings, "pseudonymisation")
    if not path.exists():
        _create_secret(path, MIN_SECRET_BYTES)
    secret = path.read_bytes()
    if len(secret) < MIN_SECRET_BYTES:
        raise MissingSecret(Message("{path} holds {n_secret} bytes; the pseudonymisation "
                                    "master secret needs at least {MIN_SECRET_BYTES}", path=path,
                                    n_secret=len(secret), MIN_SECRET_BYTES=MIN_SECRET_BYTES))
    return secret


def grant_key(settings: Settings) -> bytes:
    """The HMAC key of extract grants (control plane only; rotating it voids open grants)."""
    path = require_key_file(settings, "extract_grant")
    if not path.exists():
        _create_secret(path, GRANT_KEY_BYTES)
    check_key_file("extract_grant", path)
    return path.read_bytes()


def _create_secret(path: Path, size: int) -> None:
    private_folder(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(size))
