"""The extract manifest: what an extract holds, signed, and the one proof that it is complete.

Stored beside the files as ``manifest.json`` (canonical JSON, :mod:`spe.crypto.canonical`)
and ``manifest.json.sig`` (the base64 Ed25519 signature of those exact bytes). The signature
is written first and the manifest last, so an extract whose ``manifest.json`` exists is
whole; one without is unfinished and not to be read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SignatureError, SigningKey, key_id, verify
from spe.storage.base import ObjectStore

FORMAT = "spe-extract/v1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"

Fetcher = Callable[[str], BinaryIO]
"""Opens an object by key: ``ObjectStore.open``, or a download through a control-plane grant."""


class ManifestError(Exception):
    """A manifest that is not an spe extract manifest, or whose signature does not verify."""


def fetcher(source: ObjectStore | Fetcher) -> Fetcher:
    return source.open if isinstance(source, ObjectStore) else source


def sign(manifest: dict[str, Any], signing_key: SigningKey) -> tuple[bytes, str]:
    """The manifest's bytes and their detached signature."""
    body = canonical_json(manifest)
    return body, signing_key.sign(body)


def verify_manifest(body: bytes, signature: str, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The manifest in ``body`` once its signature verifies with ``public_key``."""
    try:
        verify(public_key, body, signature.strip())
    except SignatureError as exc:
        raise ManifestError(f"the extract manifest's signature does not verify: {exc}") from exc
    manifest = json.loads(body)
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"not an {FORMAT} manifest: format {manifest.get('format')!r}")
    if manifest.get("signing_key_id") != key_id(public_key):
        raise ManifestError("the manifest names another signing key than the one verifying it")
    return manifest


def load_manifest(source: ObjectStore | Fetcher, prefix: str, public_key: Ed25519PublicKey,
                  *, permit_reference: str, key_id: str | None) -> dict[str, Any]:
    """Fetch the manifest of the extract under ``prefix``, verify it and check that it is
    the one asked for (:func:`check_bound`)."""
    fetch = fetcher(source)
    with fetch(prefix + MANIFEST_NAME) as stream:
        body = stream.read()
    with fetch(prefix + SIGNATURE_NAME) as stream:
        signature = stream.read().decode("ascii")
    manifest = verify_manifest(body, signature, public_key)
    check_bound(manifest, prefix, permit_reference=permit_reference, key_id=key_id)
    return manifest


def check_bound(manifest: dict[str, Any], prefix: str, *, permit_reference: str,
                key_id: str | None) -> None:
    """Refuse a manifest signed for another extract: its prefix, permit reference and data
    key id must be those it was loaded for (``key_id`` None: any key, for a caller that
    checks the key itself), and every file must lie directly under the prefix.

    The signature says only that the control plane made the manifest, not for what: without
    these checks a validly signed manifest of another project, an older extract, or a permit
    since amended could be copied under this prefix and served in its place.
    """
    for field, expected in (("prefix", prefix), ("permit_reference", permit_reference),
                            ("key_id", key_id)):
        if expected is not None and manifest.get(field) != expected:
            raise ManifestError(f"the manifest was signed for {field} "
                                f"{manifest.get(field)!r}, not {expected!r}")
    files = manifest.get("files")
    if not isinstance(files, list):
        raise ManifestError("the manifest lists no files")
    for entry in files:
        if not file_under(entry, prefix):
            key = entry.get("object_key") if isinstance(entry, dict) else entry
            raise ManifestError(f"the manifest names an object outside its extract {prefix}: "
                                f"{key!r}")


def file_under(entry: Any, prefix: str) -> bool:
    """Whether a manifest entry's object is directly under ``prefix`` (no sub-directory,
    no ``..``)."""
    key = entry.get("object_key") if isinstance(entry, dict) else None
    if not isinstance(key, str) or not key.startswith(prefix):
        return False
    name = key[len(prefix):]
    return bool(name) and "/" not in name and name not in (".", "..")
