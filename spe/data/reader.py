"""Read an extract inside a workspace: verify, then decrypt.

Whoever holds the project's data key reads here: the control plane, when it serves a
file to a workspace through the grant endpoint or writes the local runtime's extract
directory. A workspace never receives the data key (it fetches decrypted files); the
reader takes any :data:`~spe.data.manifest.Fetcher` so that the same checks apply to
objects fetched from elsewhere.

Before a byte is decrypted: the manifest's signature verifies, the manifest is the one of
this extract (prefix, permit reference, every object under the prefix:
:func:`~spe.data.manifest.check_bound`), it names this data key, and each ciphertext's
SHA-256 and size are those the manifest signed. Decryption then authenticates every chunk
(:mod:`spe.data.encryption`).
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from spe.data.encryption import TamperedError, WrongKeyError, decrypt_stream
from spe.data.manifest import Fetcher, fetcher, load_manifest
from spe.keys.base import DataKey
from spe.storage.base import ObjectStore
from spe.storage.layout import component

_BUFFER = 1 << 20
READ_ONLY = 0o444


def verified_ciphertext(fetch: Fetcher, entry: dict[str, Any]) -> BinaryIO:
    """A temporary file holding the entry's ciphertext, returned only once its size and
    sha256 match the manifest's; the caller closes it (it is a context manager)."""
    digest, size = hashlib.sha256(), 0
    local = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    try:
        with fetch(entry["object_key"]) as stream:
            while block := stream.read(_BUFFER):
                digest.update(block)
                size += len(block)
                local.write(block)
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            raise TamperedError(f"{entry['object_key']} is not the file the manifest signed "
                                f"(sha256 {digest.hexdigest()}, {size} bytes)")
    except BaseException:
        local.close()
        raise
    local.seek(0)
    return local


def _entries(source: ObjectStore | Fetcher, prefix: str, data_key: DataKey,
             public_key: Ed25519PublicKey, permit_reference: str,
             ) -> tuple[Fetcher, list[dict[str, Any]]]:
    fetch = fetcher(source)
    manifest = load_manifest(fetch, prefix, public_key, permit_reference=permit_reference,
                             key_id=None)  # checked here, to say which key it needs
    if manifest["key_id"] != data_key.key_id:
        raise WrongKeyError(f"the extract is encrypted with key {manifest['key_id']}, "
                            f"not {data_key.key_id}")
    return fetch, manifest["files"]


def read_extract(source: ObjectStore | Fetcher, prefix: str, data_key: DataKey,
                 public_key: Ed25519PublicKey, *, permit_reference: str,
                 ) -> dict[str, pa.Table]:
    """Every table of the extract under ``prefix``, in memory, by name."""
    fetch, entries = _entries(source, prefix, data_key, public_key, permit_reference)
    tables = {}
    for entry in entries:
        plaintext = io.BytesIO()
        with verified_ciphertext(fetch, entry) as ciphertext:
            decrypt_stream(ciphertext, plaintext, data_key.plaintext)
        plaintext.seek(0)
        tables[entry["name"]] = pq.read_table(plaintext)
    return tables


def materialise(source: ObjectStore | Fetcher, prefix: str, data_key: DataKey,
                public_key: Ed25519PublicKey, target_dir: Path, *, permit_reference: str,
                ) -> dict[str, Path]:
    """Decrypt every table into ``target_dir/<name>.parquet``, read-only (0444); returns
    the paths by name. A file appears only once whole and authenticated."""
    fetch, entries = _entries(source, prefix, data_key, public_key, permit_reference)
    target_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for entry in entries:
        target = target_dir / f"{component(entry['name'], 'table name')}.parquet"
        with verified_ciphertext(fetch, entry) as ciphertext:
            fd, temp_name = tempfile.mkstemp(dir=target_dir, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as out:
                    decrypt_stream(ciphertext, out, data_key.plaintext)
                os.chmod(temp_name, READ_ONLY)
                os.replace(temp_name, target)
            except BaseException:
                Path(temp_name).unlink(missing_ok=True)
                raise
        paths[entry["name"]] = target
    return paths
