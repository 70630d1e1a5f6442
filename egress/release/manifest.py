"""The release manifest: what left, on whose decision, under which rules — signed.

The manifest is plain JSON; its signature is Ed25519 over its canonical JSON encoding
(:func:`spe.crypto.canonical.canonical_json`), so anyone holding the release-signing public
key (``GET /api/v1/egress/release-key``) can verify a downloaded release offline.
"""

from __future__ import annotations

from dataclasses import dataclass

from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SigningKey, load_public_key, verify

MANIFEST_FORMAT = "spe-egress-release/1"


@dataclass(frozen=True)
class ReleasedFile:
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
    justification and time; ``check`` is the file's automated check record."""
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
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size,
                   "description": f.description, "check": f.check, "votes": f.votes}
                  for f in sorted(files, key=lambda f: f.name)],
    }


def sign_manifest(manifest: dict, key: SigningKey) -> str:
    return key.sign(canonical_json(manifest))


def verify_manifest(manifest: dict, signature: str, public_key_pem: str) -> None:
    """Raise :class:`spe.crypto.signing.SignatureError` unless the signature holds."""
    verify(load_public_key(public_key_pem), canonical_json(manifest), signature)
