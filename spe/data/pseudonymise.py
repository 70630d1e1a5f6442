"""Pseudonyms keyed per permit: the same person links within a permit, never across permits.

Method ``hmac-sha256-hkdf/v1``:

    k_permit  = HKDF-SHA-256(master secret, salt="spe-pseudonym-v1", info=permit reference)
    pseudonym = lowercase base32 of HMAC-SHA-256(k_permit, UTF-8 of the value), first 26
                characters (130 bits)

The master secret stays with the access body (the control plane); a workspace never sees it,
nor ``k_permit``, so it can neither reverse a pseudonym by hashing candidate identifiers nor
link two permits' extracts (TEHDAS2). A value is hashed in its string form, so the identifier
``1840175123456`` stored as an integer in one dataset and as text in another gets one
pseudonym. Nulls stay null: an absent identifier is no one.

130 bits: across a billion distinct identifiers the chance that two share a pseudonym is
about n²/2^131 ≈ 4·10^-22 (birthday bound); base32 has no case or punctuation to be mangled
by spreadsheets or file names.

Columns are pseudonymised vectorised: each distinct value is hashed once (dictionary
encoding, then a take), and the hashes of earlier batches are remembered up to
``cache_limit`` values, so a person appearing in every row group of a large file is hashed
once for the whole extract, in bounded memory.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

METHOD = "hmac-sha256-hkdf/v1"
SALT = b"spe-pseudonym-v1"
LENGTH = 26
MIN_SECRET_BYTES = 32
_B32_ROW = 20  # bytes of digest encoded per value: 160 bits, 32 base32 characters, no padding


def permit_key(master_secret: bytes, permit_reference: str) -> bytes:
    """The 32-byte HMAC key of one permit."""
    if not isinstance(master_secret, bytes) or len(master_secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the pseudonymisation master secret must be at least "
                         f"{MIN_SECRET_BYTES} random bytes")
    if not permit_reference:
        raise ValueError("a permit reference is needed to derive the pseudonym key")
    return HKDF(hashes.SHA256(), 32, salt=SALT,
                info=permit_reference.encode("utf-8")).derive(master_secret)


_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_SHIFTS = np.arange(35, -1, -5, dtype=np.uint64)  # eight 5-bit groups of a 40-bit integer
_BYTE_SHIFTS = np.arange(32, -1, -8, dtype=np.uint64)  # five bytes, big-endian


def _encode(digests: bytes, count: int) -> pa.StringArray:
    """Lowercase base32 (RFC 4648) of the first 130 bits of ``count`` concatenated 32-byte
    digests, vectorised: 20 bytes are four 40-bit integers, each eight base32 characters."""
    rows = np.frombuffer(digests, dtype=np.uint8).reshape(count, 32)[:, :_B32_ROW]
    groups = (rows.reshape(count, 4, 5).astype(np.uint64) << _BYTE_SHIFTS).sum(axis=2)
    symbols = (groups[:, :, None] >> _SHIFTS) & np.uint64(31)
    text = _ALPHABET[symbols.reshape(count, 32)[:, :LENGTH]]
    offsets = np.arange(0, LENGTH * (count + 1), LENGTH, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets),
                                       pa.py_buffer(np.ascontiguousarray(text)))


class Pseudonymiser:
    """The pseudonyms of one permit. It remembers what it hashed: keep one per identifier
    variable for the length of an extract (as :func:`spe.data.extract.prepare_extract` does)."""

    method = METHOD

    def __init__(self, master_secret: bytes, permit_reference: str,
                 cache_limit: int = 2_000_000) -> None:
        block = permit_key(master_secret, permit_reference).ljust(64, b"\x00")
        # HMAC (RFC 2104) with its two padded key blocks absorbed once: each value then costs
        # two hash copies and two compressions, about a third of hmac.digest per value
        self._inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in block))
        self._outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block))
        self.cache_limit = cache_limit
        self._seen_values = pa.array([], pa.string())
        self._seen_pseudonyms = pa.array([], pa.string())

    def digest(self, value: bytes) -> bytes:
        """HMAC-SHA-256(k_permit, value)."""
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def pseudonym(self, value: object) -> str:
        """The pseudonym of one value (its ``str`` form)."""
        return _encode(self.digest(str(value).encode("utf-8")), 1)[0].as_py()

    def _hash(self, values: pa.Array) -> pa.StringArray:
        raw = values.cast(pa.binary()).to_pylist()
        return _encode(b"".join([self.digest(value) for value in raw]), len(raw))

    def _pseudonyms_of_distinct(self, distinct: pa.Array) -> pa.Array:
        if len(self._seen_values):
            positions = pc.index_in(distinct, value_set=self._seen_values)
            index = pc.fill_null(positions, -1).to_numpy().astype(np.int64)
        else:
            index = np.full(len(distinct), -1, dtype=np.int64)
        missing = index < 0
        fresh = self._hash(distinct.filter(pa.array(missing)))
        known = len(self._seen_pseudonyms)
        index[missing] = np.arange(known, known + len(fresh))
        candidates = pa.concat_arrays([self._seen_pseudonyms, fresh])
        result = candidates.take(pa.array(index))
        if known + len(fresh) <= self.cache_limit:
            self._seen_values = pa.concat_arrays(
                [self._seen_values, distinct.filter(pa.array(missing))])
            self._seen_pseudonyms = candidates
        else:  # start over rather than grow: memory stays bounded
            self._seen_values = distinct
            self._seen_pseudonyms = result
        return result

    def array(self, column: pa.Array | pa.ChunkedArray, as_dictionary: bool = False,
              ) -> pa.Array | pa.ChunkedArray:
        """The pseudonyms of a column, as strings; nulls stay null. ``as_dictionary`` gives
        them dictionary-encoded (each distinct pseudonym stored once, as extracts hold them)."""
        if isinstance(column, pa.ChunkedArray):
            chunks = [self.array(chunk, as_dictionary) for chunk in column.chunks]
            return pa.chunked_array(chunks, type=_type(as_dictionary))
        # a dictionary array (as Parquet readers can hand over) is used as it comes
        is_encoded = pa.types.is_dictionary(column.type)
        encoded = column if is_encoded else pc.dictionary_encode(column)
        distinct = encoded.dictionary
        if distinct.type != pa.string():
            distinct = distinct.cast(pa.string())
        if len(distinct) == 0:
            return pa.nulls(len(column), _type(as_dictionary))
        pseudonyms = self._pseudonyms_of_distinct(distinct)
        indices = encoded.indices.cast(pa.int32())
        if as_dictionary:
            return pa.DictionaryArray.from_arrays(indices, pseudonyms)
        return pseudonyms.take(indices)

    def series(self, column: pd.Series) -> pd.Series:
        """:meth:`array` for pandas; the result keeps the index and name."""
        values = self.array(pa.array(column, from_pandas=True)).to_pandas()
        return pd.Series(values.to_numpy(), index=column.index, name=column.name,
                         dtype=object)


def _type(as_dictionary: bool) -> pa.DataType:
    return pa.dictionary(pa.int32(), pa.string()) if as_dictionary else pa.string()
