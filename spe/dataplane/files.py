"""Serving one decrypted file of an extract, for the grant endpoint.

The ciphertext is copied to a temporary file and checked against the signed manifest (size
and SHA-256) before a byte is decrypted, so a substituted or truncated object is refused with
an error, not half a download; decryption then authenticates every chunk as it streams.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from spe.data.encryption import DecryptingReader, TamperedError
from spe.keys.base import DataKey
from spe.storage import ObjectStore

BUFFER = 1 << 20


def verified_ciphertext(store: ObjectStore, entry: dict[str, Any]) -> BinaryIO:
    """A temporary file holding the entry's ciphertext, once it matches the manifest."""
    digest, size = hashlib.sha256(), 0
    local = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, who closes it
    try:
        with store.open(entry["object_key"]) as stream:
            while block := stream.read(BUFFER):
                digest.update(block)
                size += len(block)
                local.write(block)
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            raise TamperedError(f"{entry['object_key']} is not the file the manifest signed")
    except BaseException:
        local.close()
        raise
    local.seek(0)
    return local


def decrypted_chunks(ciphertext: BinaryIO, data_key: DataKey) -> Iterator[bytes]:
    """The plaintext, chunk by chunk; closes ``ciphertext`` at the end."""
    with ciphertext:
        reader = DecryptingReader(ciphertext, data_key.plaintext)
        while block := reader.read(BUFFER):
            yield block
