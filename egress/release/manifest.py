"""The release manifest: what left, on whose decision, under which rules — signed.

The manifest is plain JSON; its signature is Ed25519 over its RFC 8785 (JCS) encoding
(:func:`manifest_bytes`), and those exact bytes are what is stored as ``manifest.json``, so
anyone holding the release-signing public key can verify a release offline, over the file as
stored (:func:`verify_manifest_bytes`) or over the manifest as the API returns it (JCS gives
the same bytes back from any faithful parse). The verifier's public key must be pinned: had
from the platform's operator through a channel of its own (``spe egress download
--public-key``), not fetched from the server whose release it verifies, which could serve a
key of its own beside a manifest of its own.

Releases of format ``spe-egress-release/1`` (signed over
:func:`spe.crypto.canonical.canonical_json`, not RFC 8785) still verify under that encoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import rfc8785

from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SignatureError, SigningKey, load_public_key, verify

MANIFEST_FORMAT = "spe-egress-release/2"
ENCODINGS: dict[str, Callable[[dict], bytes]] = {
    "spe-egress-release/1": canonical_json,  # releases made before RFC 8785
    MANIFEST_FORMAT: rfc8785.dumps,
}
"""The signed encoding of each manifest format."""


@dataclass(frozen=True)
class ReleasedFile:
    id: str
    name: str
    sha256: str
    size: int
    description: str
    check: dict
    votes: list[dict]


def build_manifest(*, release_id: str, request_id: str, project_id: str, title: str,
                   permit_reference: str, permit_id: str, pack_name: str, pack_version: str,
                   requester: str, released_by: str, released_at: str,
                   files: list[ReleasedFile]) -> dict:
    """The manifest body. ``votes`` are dicts with reviewer, decision, comment,
    justification and time; ``check`` is the file's automated check record; ``id`` is the
    file's id in ``GET /egress/releases/{release}/files/{id}``."""
    return {
        "format": MANIFEST_FORMAT,
        "release_id": release_id,
        "request_id": request_id,
        "project_id": project_id,
        "title": title,
        "permit": {"reference": permit_reference, "id": permit_id},
        "policy_pack": {"name": pack_name, "version": pack_version},
        "requester": requester,
        "released_by": released_by,
        "released_at": released_at,
        "files": [{"id": f.id, "name": f.name, "sha256": f.sha256, "size": f.size,
                   "description": f.description, "check": f.check, "votes": f.votes}
                  for f in sorted(files, key=lambda f: f.name)],
    }


def manifest_bytes(manifest: dict) -> bytes:
    """The bytes signed and stored: the encoding of the manifest's format."""
    encode = ENCODINGS.get(manifest.get("format")) if isinstance(manifest, dict) else None
    if encode is None:
        raise SignatureError(f"not a release manifest of a known format: "
                             f"{manifest.get('format') if isinstance(manifest, dict) else ''!r}")
    try:
        return encode(manifest)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SignatureError(f"the manifest cannot be encoded canonically: {exc}") from exc


def sign_manifest(manifest: dict, key: SigningKey) -> str:
    return key.sign(manifest_bytes(manifest))


def verify_manifest(manifest: dict, signature: str, public_key_pem: str | bytes) -> None:
    """Raise :class:`spe.crypto.signing.SignatureError` unless the signature of ``manifest``
    (as parsed, from the API) holds under the pinned public key."""
    verify(load_public_key(public_key_pem), manifest_bytes(manifest), signature)


def verify_manifest_bytes(body: bytes, signature: str, public_key_pem: str | bytes) -> dict:
    """The manifest in ``body`` (a stored ``manifest.json``) once the signature holds over
    those exact bytes and they are the canonical encoding of their format; else
    :class:`spe.crypto.signing.SignatureError`."""
    verify(load_public_key(public_key_pem), body, signature)
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise SignatureError("the signed manifest is not JSON") from exc
    if manifest_bytes(manifest) != body:
        raise SignatureError("the signed manifest is not in the canonical encoding of its "
                             "format")
    return manifest
