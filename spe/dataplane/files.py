"""Serving one decrypted file of an extract, for the grant endpoint.

The ciphertext is copied to a temporary file and checked against the signed manifest (size
and SHA-256) before a byte is decrypted, so a substituted or truncated object is refused with
an error, not half a download; decryption then authenticates every chunk as it streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from spe.data import reader
from spe.data.encryption import DecryptingReader
from spe.keys.base import DataKey
from spe.storage import ObjectStore

BUFFER = 1 << 20


def verified_ciphertext(store: ObjectStore, entry: dict[str, Any]) -> BinaryIO:
    """A temporary file holding the entry's ciphertext, once it matches the manifest."""
    return reader.verified_ciphertext(store.open, entry)


def decrypted_chunks(ciphertext: BinaryIO, data_key: DataKey) -> Iterator[bytes]:
    """The plaintext, chunk by chunk; closes ``ciphertext`` at the end."""
    with ciphertext:
        reader = DecryptingReader(ciphertext, data_key.plaintext)
        while block := reader.read(BUFFER):
            yield block
