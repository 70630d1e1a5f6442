"""Writing a release to object storage and reading its files back, verified.

A release is ``releases/<release>/`` under the project's prefix: each released file by its
sha256 (``files/<sha256>``), ``manifest.json`` (exactly the bytes signed), ``manifest.sig``
(``<key id> <base64 signature>``) and
``ro-crate-metadata.json``. Every byte read for a checker or a download is hashed first and
refused when it is not the content recorded at submission.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from typing import BinaryIO

from egress.release.manifest import manifest_bytes, sign_manifest
from spe.crypto.signing import SigningKey
from spe.errors import Conflict
from spe.messages import Message
from spe.storage.base import ObjectNotFound, ObjectStore
from spe.storage.layout import quarantine_key, release_prefix

CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class IntegrityFailure(Conflict):
    """Stored content that is not what was recorded (tampering or corruption)."""

    default_code = "egress.integrity"


def released_key(project_id: str, release_id: str, sha256: str) -> str:
    if not SHA256.fullmatch(sha256):
        raise ValueError(f"invalid sha256 {sha256!r}")
    return f"{release_prefix(project_id, release_id)}files/{sha256}"


def publish(store: ObjectStore, key: SigningKey, manifest: dict, crate: dict) -> str:
    """Copy the manifest's files from quarantine into the release, verified, and write the
    signed manifest and the crate beside them. Returns the signature."""
    project, release = manifest["project_id"], manifest["release_id"]
    for f in manifest["files"]:
        with read_verified(store, quarantine_key(project, f["sha256"]), f["sha256"],
                           f["size"]) as content:
            store.put(released_key(project, release, f["sha256"]), content, f["size"])
    signature = sign_manifest(manifest, key)
    prefix = release_prefix(project, release)
    store.put_bytes(f"{prefix}manifest.json", manifest_bytes(manifest),  # the bytes signed
                    "application/json")
    store.put_bytes(f"{prefix}manifest.sig", f"{key.key_id} {signature}\n".encode(),
                    "text/plain")
    store.put_bytes(f"{prefix}ro-crate-metadata.json", json.dumps(crate, indent=2).encode(),
                    "application/ld+json")
    return signature


def read_verified(store: ObjectStore, key: str, sha256: str, size: int) -> BinaryIO:
    """The object's bytes in a rewound temporary file, after checking size and sha256."""
    # Handed to the caller, who closes it (a ``with`` block here would close it too early).
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        digest, length = hashlib.sha256(), 0
        with store.open(key) as stream:
            while (chunk := stream.read(CHUNK)) and length <= size:
                length += len(chunk)
                digest.update(chunk)
                out.write(chunk)
        if length != size or digest.hexdigest() != sha256:
            raise IntegrityFailure(Message("stored content {sha256}… does not match its "
                                           "recorded hash; it is not served", sha256=sha256[:12]))
    except ObjectNotFound as exc:
        out.close()
        raise IntegrityFailure(Message("stored content {sha256}… is missing",
                                       sha256=sha256[:12])) from exc
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out
