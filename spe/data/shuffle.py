"""Shuffle an extract's rows, in bounded memory, in an order fixed by a per-extract key.

A source sorted by a direct identifier (a NIR, say) would otherwise give its order to the
extract: each pseudonymised row's position would reveal the person's rank, and a NIR's rank
encodes sex, year and month of birth and département, whether or not those variables were
permitted. So every table is written in a random order: a uniformly random permutation of
its rows, unknown to the reader and unrelated to the source's order.

The permutation comes from a key derived, per extract table, from the pseudonymisation
secret (:func:`shuffle_key`): the same extract made again (a resumed or repeated run) gets
the same order; another extract, another order. Row ``i`` draws 16 bytes of AES-256-CTR
keystream under that key: the first 8 pick one of ``buckets`` buckets, the last 8 its place
within the bucket. Rows are scattered into the buckets as they stream in, then each bucket is
read back, sorted by place and written out in turn; random buckets in random inner order make
a uniformly random permutation. A bucket holds about ``rows / buckets`` rows, which is what
bounds memory; it waits in a temporary file sealed under a random key that exists only in
memory for the run (:mod:`spe.data.encryption`), so nothing readable touches the disk.

Moving strings is what the shuffle spends its time on (every row is gathered twice: into
its bucket, then into its place). So the text columns that repeat (codes, departments, a
prescriber's id: :func:`_repetitive`, judged on the first batch) travel dictionary-encoded,
as 4-byte indices, and are decoded back to their type as each bucket is written out, except
those the caller takes dictionary-encoded (``encoded_ok``: the extract takes them all: its
pseudonymiser then works on each distinct identifier once, and its Parquet writer stores a
code column's dictionary as it is instead of hashing every row into one of its own). Those
come out with each batch's dictionary reduced to the values its rows use. Text of decimal
digits of one width that does not repeat (a NIR) travels as 64-bit integers
(:mod:`spe.data.decimal`), with a text column beside it for any value that is not of those
digits (a Corsican NIR), and is given back as text, except to a caller taking it as integers
(``integers_ok``: the extract's pseudonymiser looks them up as such). The rows, their values
and the order are the same either way.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import math
import secrets
import tempfile
from collections.abc import Collection, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from spe.data import decimal
from spe.data.encryption import DecryptingReader, EncryptingWriter

ORDER = "__spe_shuffle_order"
OVERFLOW = "__spe_shuffle_text_"
_LABEL = b"spe-extract-shuffle/v1"
_BUFFER = 1 << 20
_SAMPLE = 100_000
_DISTINCT = 0.5
"""A text column with fewer distinct values than this share of the first batch's first
``_SAMPLE`` rows is moved dictionary-encoded (a code list, a prescriber's id; not a NIR)."""


def shuffle_key(master_secret: bytes, prefix: str, table: str) -> bytes:
    """The key that orders table ``table`` of the extract under ``prefix``."""
    return hmac.new(master_secret, b"\0".join([_LABEL, prefix.encode(), table.encode()]),
                    hashlib.sha256).digest()


def bucket_count(rows: int, batch_rows: int) -> int:
    """Enough buckets that each holds about one batch."""
    return max(1, math.ceil(rows / max(batch_rows, 1)))


class _Draws:
    """16 bytes of keystream per row, in row order: (bucket draw, place) as uint64 pairs."""

    def __init__(self, key: bytes) -> None:
        self._stream = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()

    def next(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        pairs = np.frombuffer(self._stream.update(bytes(16 * rows)), dtype="<u8")
        return pairs[0::2], pairs[1::2]


class _SealedSpill:
    """One bucket's rows, as an Arrow IPC stream, sealed in a temporary file."""

    def __init__(self, schema: pa.Schema, key: bytes, stack: ExitStack) -> None:
        self.file: BinaryIO = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        self._sealer = EncryptingWriter(self.file, key, "spill")
        self._writer = pa.ipc.new_stream(self._sealer, schema)
        self._key = key
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def read(self) -> pa.Table:
        self._writer.close()
        self._sealer.close()
        self.file.seek(0)
        # buffered: Arrow wants whole reads, a raw reader may return short ones
        plaintext = io.BufferedReader(DecryptingReader(self.file, self._key), _BUFFER)
        with pa.ipc.open_stream(plaintext) as reader:
            table = reader.read_all()
        self.file.close()
        return table


def _repetitive(batch: pa.RecordBatch) -> list[int]:
    """The text columns of ``batch`` whose values repeat enough to be cheaper to move as
    dictionary indices (and those the reader already hands over encoded)."""
    sample = batch.slice(0, _SAMPLE)
    return [i for i, field in enumerate(batch.schema)
            if pa.types.is_dictionary(field.type)
            or ((pa.types.is_string(field.type) or pa.types.is_large_string(field.type))
                and pc.count_distinct(sample.column(i)).as_py() < _DISTINCT * sample.num_rows)]


@dataclass
class _Plan:
    """How the buckets hold the columns, chosen on the first batch: ``encoded`` text as
    dictionary indices, ``decimal`` text as integers (index: digits), with a text column
    beside each for the odd value that is not of those digits (null otherwise)."""

    encoded: list[int]
    decimal: dict[int, int]

    @classmethod
    def of(cls, batch: pa.RecordBatch) -> _Plan:
        encoded = _repetitive(batch)
        sample = batch.slice(0, _SAMPLE)
        found = {}
        for i, item in enumerate(batch.schema):
            if i not in encoded and (pa.types.is_string(item.type)
                                     or pa.types.is_large_string(item.type)):
                digits = decimal.width(sample.column(i))
                if digits is not None:
                    found[i] = digits
        return cls(encoded, found)

    def spilled(self, schema: pa.Schema) -> pa.Schema:
        fields = []
        for i, item in enumerate(schema):
            if i in self.encoded:
                text = item.type.value_type if pa.types.is_dictionary(item.type) else item.type
                item = item.with_type(pa.dictionary(pa.int32(), text))
            elif i in self.decimal:
                item = item.with_type(pa.uint64()).with_nullable(True)
            fields.append(item)
        return pa.schema(fields + [pa.field(f"{OVERFLOW}{i}", schema.field(i).type)
                                   for i in self.decimal]
                         + [pa.field(ORDER, pa.uint64(), nullable=False)])

    def encode(self, batch: pa.RecordBatch, place: np.ndarray,
               spilled: pa.Schema) -> pa.RecordBatch:
        arrays = list(batch.columns)
        for i in self.encoded:
            if not pa.types.is_dictionary(arrays[i].type):
                arrays[i] = pc.dictionary_encode(arrays[i])
            if arrays[i].type != spilled.field(i).type:  # as the buckets hold it
                arrays[i] = arrays[i].cast(spilled.field(i).type)
        odd = []
        for i, digits in self.decimal.items():
            values = arrays[i]
            fits = decimal.fits(values, digits)
            if fits.false_count:
                # a copy from offset 0: Arrow's if_else mixes up a sliced string array's
                # offsets (pyarrow 22)
                values = pa.concat_arrays([values])
                none = pa.scalar(None, values.type)
                arrays[i] = decimal.integers(pc.if_else(fits, values, none))
                odd.append(pc.if_else(fits, none, values))
            else:
                arrays[i] = decimal.integers(values)
                odd.append(pa.nulls(len(values), values.type))
        return pa.record_batch([*arrays, *odd, pa.array(place, pa.uint64())], schema=spilled)

    def decode(self, table: pa.Table, schema: pa.Schema, encoded_ok: Collection[str],
               integers_ok: Collection[str]) -> pa.Table:
        """The bucket's rows as ``schema`` says, except the columns the caller takes
        encoded (as dictionaries) or as integers (as :mod:`spe.data.decimal` says)."""
        table = table.combine_chunks()
        arrays = list(table.columns[:len(schema)])
        fields = list(schema)
        for i in self.encoded:
            if schema.field(i).name not in encoded_ok:
                arrays[i] = arrays[i].cast(schema.field(i).type)
            else:
                fields[i] = fields[i].with_type(arrays[i].type)
        for i, digits in self.decimal.items():
            numbers, odd = arrays[i].chunk(0), table.column(f"{OVERFLOW}{i}").chunk(0)
            if odd.null_count == len(odd) and schema.field(i).name in integers_ok:
                fields[i] = fields[i].with_type(pa.uint64()).with_metadata(
                    {**(fields[i].metadata or {}), decimal.WIDTH: str(digits).encode()})
                continue
            text = decimal.text(numbers, digits, schema.field(i).type)
            arrays[i] = pc.coalesce(odd, text) if odd.null_count < len(odd) else text
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def compacted(column: pa.DictionaryArray) -> pa.DictionaryArray:
    """``column`` with a dictionary of only the values its rows use (in the same order).

    A bucket's dictionary is the union of its source batches' (and a Parquet source's may
    hold values no row has: a category list, say); a batch written with it would store
    values that none of its rows holds."""
    indices = column.indices
    valid = indices.is_valid().to_numpy(zero_copy_only=False) if indices.null_count else None
    codes = indices.fill_null(0).to_numpy() if valid is not None else indices.to_numpy()
    used = np.zeros(len(column.dictionary), dtype=bool)
    used[codes if valid is None else codes[valid]] = True
    if used.all():
        return column
    kept = np.flatnonzero(used)
    renumbered = np.zeros(len(used), dtype=np.int32)
    renumbered[kept] = np.arange(len(kept), dtype=np.int32)
    mask = None if valid is None else ~valid
    return pa.DictionaryArray.from_arrays(pa.array(renumbered[codes], mask=mask),
                                          column.dictionary.take(kept))


def _out(table: pa.Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """``table`` in batches of at most ``batch_rows`` rows, each dictionary of each batch
    :func:`compacted`."""
    encoded = [i for i, item in enumerate(table.schema) if pa.types.is_dictionary(item.type)]
    for batch in table.to_batches(max_chunksize=batch_rows):
        if encoded:
            arrays = list(batch.columns)
            for i in encoded:
                arrays[i] = compacted(arrays[i])
            batch = pa.record_batch(arrays, schema=batch.schema)
        yield batch


def _take(rows: pa.RecordBatch | pa.Table, order: np.ndarray) -> pa.RecordBatch | pa.Table:
    """``rows`` in ``order`` (a permutation of their positions, so in bounds: not checked)."""
    return pc.take(rows, pa.array(order.astype(np.int32, copy=False)
                                  if len(order) < 1 << 31 else order), boundscheck=False)


def shuffled(batches: Iterator[pa.RecordBatch], schema: pa.Schema, key: bytes, buckets: int,
             batch_rows: int, encoded_ok: Collection[str] = (),
             integers_ok: Collection[str] = ()) -> Iterator[pa.RecordBatch]:
    """``batches`` (of ``schema``) in the order fixed by ``key``; reads them all before
    yielding the first, and closes them. A text column named in ``encoded_ok`` may come out
    dictionary-encoded (same values), one named in ``integers_ok`` as the integers of its
    decimal digits (a uint64 column whose field metadata ``decimal.WIDTH`` gives their
    number: :mod:`spe.data.decimal`)."""
    draws = _Draws(key)
    bucket_type = np.uint16 if buckets <= 1 << 16 else np.uint32
    spill_key = secrets.token_bytes(32)
    with ExitStack() as stack:
        if hasattr(batches, "close"):  # stops a read-ahead feeding it, come what may
            stack.callback(batches.close)
        spills: list[_SealedSpill] = []
        plan = _Plan([], {})
        spilled = schema
        for batch in batches:
            if not spills:  # the first batch: how the buckets hold each column
                plan = _Plan.of(batch)
                spilled = plan.spilled(schema)
                spills = [_SealedSpill(spilled, spill_key, stack) for _ in range(buckets)]
            bucket_draw, place = draws.next(batch.num_rows)
            # as 16 bits, a stable sort is a radix sort (the same order as on 64 bits)
            chosen = (bucket_draw % np.uint64(buckets)).astype(bucket_type)
            by_bucket = _take(plan.encode(batch, place, spilled),
                              np.argsort(chosen, kind="stable"))
            ends = np.cumsum(np.bincount(chosen, minlength=buckets))
            for bucket, end in enumerate(ends):
                start = ends[bucket - 1] if bucket else 0
                if end > start:
                    spills[bucket].write(by_bucket.slice(start, end - start))
        for spill in spills:
            if not spill.rows:
                continue
            table = spill.read().unify_dictionaries()
            table = _take(table, np.argsort(table.column(ORDER).to_numpy()))
            yield from _out(plan.decode(table, schema, encoded_ok, integers_ok), batch_rows)
