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

Columns are pseudonymised vectorised, against one dictionary per identifier variable that
lives as long as the :class:`Pseudonymiser` (the whole extract): every value of a batch is
looked up in it at once (``pyarrow.compute.index_in``, one hash probe per row), only values
never seen before are hashed, once each, and appended. A person appearing in every row group
of a large file is therefore hashed once for the whole extract, and a row group costs one
probe per row instead of a dictionary encoding followed by a lookup of its distinct values.
The dictionary holds at most ``cache_limit`` values (or one batch's distinct values, if
more): past that it starts again from the values of the current batch, so memory stays
bounded whatever the file.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from spe.data import decimal

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


def _encode(digests: bytes, count: int) -> pa.StringArray:
    """Lowercase base32 (RFC 4648) of the first 130 bits of ``count`` concatenated 32-byte
    digests, vectorised on bytes: each 5 bytes of the first 20 are 8 symbols of 5 bits."""
    groups = np.frombuffer(digests, dtype=np.uint8).reshape(count, 32)[:, :_B32_ROW]
    b0, b1, b2, b3, b4 = (groups.reshape(count, 4, 5)[:, :, i] for i in range(5))
    symbols = np.stack([b0 >> 3, (b0 & 7) << 2 | b1 >> 6, b1 >> 1 & 31, (b1 & 1) << 4 | b2 >> 4,
                        (b2 & 15) << 1 | b3 >> 7, b3 >> 2 & 31, (b3 & 3) << 3 | b4 >> 5, b4 & 31],
                       axis=2)
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
        self._values = pa.array([], pa.string())  # values hashed so far, each once
        self._pseudonyms = pa.array([], pa.string())  # their pseudonyms, same positions
        self._keys: _Keys | None = _NO_KEYS  # their integers, while all are decimal

    @property
    def cached(self) -> int:
        """How many values (and their pseudonyms) are remembered."""
        return len(self._values)

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

    def _hash(self, values: pa.StringArray) -> pa.StringArray:
        """The pseudonyms of ``values`` (no nulls). The bytes are sliced out of the Arrow
        buffer directly: about a third faster than ``to_pylist``."""
        _validity, offsets, data = values.buffers()
        bounds = np.frombuffer(offsets, np.int32)[values.offset:values.offset + len(values) + 1]
        first = int(bounds[0])
        raw = data.slice(first, int(bounds[-1]) - first).to_pybytes() if len(data) else b""
        bounds = (bounds - first).tolist()
        digest = self.digest
        return _encode(b"".join([digest(raw[start:end])
                                 for start, end in itertools.pairwise(bounds)]), len(values))

    def _lookup(self, values: pa.Array, digits: int | None
                ) -> tuple[np.ndarray, pa.StringArray, pa.StringArray, _Keys | None]:
        """Each row's position in ``(known values, their pseudonyms, their integers)``, -1
        for a null; the values not yet known are hashed (each distinct one once) and
        appended. ``values`` is text, or the integers of ``digits``-wide decimal text."""
        if digits is None:
            keys = _keys(values) if self._keys is not None else None
        else:
            keys = _Keys(digits, _numbers(values))
        if keys is not None and self._keys is not None and self._keys.width in (None, keys.width):
            # equal widths: equal integers are equal strings; a hash table of integers,
            # several times cheaper than one of strings (pandas keeps none between calls
            # either, but builds one of integers fast)
            positions = pd.Index(self._keys.integers).get_indexer(keys.integers)
        else:
            if digits is not None:  # the known values are not all of this width: as text
                values, digits = decimal.text(values, digits), None
            if len(self._values):
                found = pc.index_in(values, value_set=self._values).fill_null(-1)
                positions = found.to_numpy(zero_copy_only=False, writable=True)
            else:
                positions = np.full(len(values), -1, dtype=np.int32)
        missing = positions < 0
        if values.null_count:
            valid = values.is_valid().to_numpy(zero_copy_only=False)
            positions[~valid] = -1
            missing &= valid
        if not missing.any():
            return positions, self._values, self._pseudonyms, self._keys
        encoded = pc.dictionary_encode(values.filter(pa.array(missing)))
        fresh = encoded.dictionary
        positions[missing] = encoded.indices.to_numpy() + len(self._values)
        if digits is None:
            fresh_keys = _Keys.joined(self._keys, fresh)
        else:
            fresh_keys = _Keys(digits, np.concatenate([self._keys.integers, _numbers(fresh)]))
            fresh = decimal.text(fresh, digits)
        return (positions, pa.concat_arrays([self._values, fresh]),
                pa.concat_arrays([self._pseudonyms, self._hash(fresh)]), fresh_keys)

    def _pseudonymise(self, values: pa.Array, as_dictionary: bool,
                      digits: int | None = None) -> pa.Array:
        positions, known_values, known_pseudonyms, known_keys = self._lookup(values, digits)
        is_null = positions < 0
        if len(known_values) <= self.cache_limit:
            self._values, self._pseudonyms, self._keys = \
                known_values, known_pseudonyms, known_keys
            if not as_dictionary:
                return known_pseudonyms.take(pa.array(positions, mask=is_null))
        # the pseudonyms this batch uses, in the order of the dictionary
        in_use = np.zeros(len(known_values), dtype=bool)
        in_use[positions[~is_null]] = True
        used = np.flatnonzero(in_use)
        pseudonyms = known_pseudonyms.take(used)
        if len(known_values) > self.cache_limit:  # start over from this batch's values
            self._values, self._pseudonyms = known_values.take(used), pseudonyms
            self._keys = known_keys and _Keys(known_keys.width, known_keys.integers[used])
        code = np.zeros(len(known_values), dtype=np.int32)
        code[used] = np.arange(len(used), dtype=np.int32)
        # a null's position, -1, picks the last code: masked, never read
        indices = pa.array(code[positions], mask=is_null)
        if as_dictionary:
            return pa.DictionaryArray.from_arrays(indices, pseudonyms)
        return pseudonyms.take(indices)

    def array(self, column: pa.Array | pa.ChunkedArray, as_dictionary: bool = False,
              digits: int | None = None) -> pa.Array | pa.ChunkedArray:
        """The pseudonyms of a column, as strings; nulls stay null. ``as_dictionary`` gives
        them dictionary-encoded (each distinct pseudonym stored once, as extracts hold them).
        With ``digits``, the column holds the integers of text of that many decimal digits
        (:mod:`spe.data.decimal`), and the pseudonyms are those of the text."""
        if isinstance(column, pa.ChunkedArray):
            chunks = [self.array(chunk, as_dictionary, digits) for chunk in column.chunks]
            return pa.chunked_array(chunks, type=_type(as_dictionary))
        if column.null_count == len(column):
            return pa.nulls(len(column), _type(as_dictionary))
        if digits is not None:
            return self._pseudonymise(column.cast(pa.uint64()), as_dictionary, digits)
        if pa.types.is_dictionary(column.type):
            # a dictionary array (as Parquet readers can hand over): its dictionary is
            # pseudonymised, its indices kept
            dictionary = self._pseudonymise(_as_string(column.dictionary), as_dictionary=False)
            if as_dictionary:
                return pa.DictionaryArray.from_arrays(column.indices.cast(pa.int32()),
                                                      dictionary)
            return dictionary.take(column.indices)
        return self._pseudonymise(_as_string(column), as_dictionary)

    def series(self, column: pd.Series) -> pd.Series:
        """:meth:`array` for pandas; the result keeps the index and name."""
        values = self.array(pa.array(column, from_pandas=True)).to_pandas()
        return pd.Series(values.to_numpy(), index=column.index, name=column.name,
                         dtype=object)


@dataclass(frozen=True)
class _Keys:
    """The known values as integers (:mod:`spe.data.decimal`), while every one is decimal
    text of one width (a NIR, an RPPS number); ``width`` is None while none is known."""

    width: int | None
    integers: np.ndarray

    @staticmethod
    def joined(known: _Keys | None, fresh: pa.StringArray) -> _Keys | None:
        """``known`` and the values ``fresh``, or None once one of them is not decimal
        digits of the same width (then values are looked up as text)."""
        keys = _keys(fresh) if known is not None else None
        if keys is None or known.width not in (None, keys.width):
            return None
        return _Keys(keys.width, np.concatenate([known.integers, keys.integers]))


_NO_KEYS = _Keys(None, np.array([], dtype=np.uint64))


def _keys(values: pa.StringArray) -> _Keys | None:
    """``values`` as integers, if they are decimal text of one width; else None."""
    digits = decimal.width(values)
    return None if digits is None else _Keys(digits, _numbers(decimal.integers(values)))


def _numbers(integers: pa.UInt64Array) -> np.ndarray:
    """A null as 0: its position is set aside by the caller."""
    return (integers.fill_null(0) if integers.null_count else integers).to_numpy()


def _as_string(column: pa.Array) -> pa.StringArray:
    """Values are hashed in their string form: ``123`` and ``"123"`` link."""
    return column if column.type == pa.string() else column.cast(pa.string())


def _type(as_dictionary: bool) -> pa.DataType:
    return pa.dictionary(pa.int32(), pa.string()) if as_dictionary else pa.string()
