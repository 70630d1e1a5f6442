"""spe.data.shuffle: a keyed permutation of the rows, in bounded memory, sealed spills."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from spe.data import shuffle
from spe.data.shuffle import shuffle_key, shuffled

ROWS = 30_000
TABLE = pa.table({"row": np.arange(ROWS), "text": [f"v{i}" for i in range(ROWS)]})


def order(key: bytes, buckets: int, read_rows: int, out_rows: int = 4_000) -> list[int]:
    batches = iter(TABLE.to_batches(max_chunksize=read_rows))
    out = list(shuffled(batches, TABLE.schema, key, buckets, out_rows))
    assert all(b.num_rows <= out_rows for b in out)
    return pa.Table.from_batches(out, TABLE.schema)["row"].to_pylist()


@pytest.mark.parametrize("buckets", [1, 7])
def test_every_row_once_in_an_order_fixed_by_the_key_alone(buckets):
    key = shuffle_key(b"s" * 32, "projects/p-1/extracts/x-1/", "care")
    first = order(key, buckets, read_rows=5_000)
    assert sorted(first) == list(range(ROWS)) and first != sorted(first)
    assert order(key, buckets, read_rows=1_234) == first  # however the source is read
    other = order(shuffle_key(b"s" * 32, "projects/p-1/extracts/x-2/", "care"), buckets, 5_000)
    assert other != first


def test_keys_differ_per_extract_table_and_secret():
    keys = {shuffle_key(secret, prefix, table)
            for secret in (b"a" * 32, b"b" * 32)
            for prefix in ("projects/p/extracts/x-1/", "projects/p/extracts/x-2/")
            for table in ("care", "people")}
    assert len(keys) == 8


def test_spilled_buckets_hold_no_readable_row(monkeypatch, tmp_path):
    """What reaches the disk: the spill files, kept here instead of deleted, are sealed."""
    made = []

    def kept_file():
        made.append(tmp_path / f"spill-{len(made)}")
        return made[-1].open("w+b")

    monkeypatch.setattr(shuffle.tempfile, "TemporaryFile", kept_file)
    key = shuffle_key(b"s" * 32, "p/", "t")
    assert sorted(order(key, 3, 5_000)) == list(range(ROWS))
    assert len(made) == 3
    blobs = [path.read_bytes() for path in made]
    assert all(blob.startswith(b"SPEX") and len(blob) > 10_000 for blob in blobs)
    assert not any(b"v12345" in blob for blob in blobs)


CODES = pa.table({
    "row": np.arange(ROWS),
    "code": [None if i % 97 == 0 else f"c{(i * 7) % 13 if i < 20_000 else 13 + i % 5}"
             for i in range(ROWS)],  # repeats; nulls; values first seen in later batches
    "prescriber": [f"p{i % 300}" for i in range(ROWS)],
    "text": [f"v{i}" for i in range(ROWS)],  # all distinct: moved as it is
})


def shuffled_table(monkeypatch, encoded: bool, encoded_ok=()) -> pa.Table:
    if not encoded:
        monkeypatch.setattr(shuffle, "_repetitive", lambda batch: [])
    key = shuffle_key(b"s" * 32, "p/", "codes")
    out = list(shuffled(iter(CODES.to_batches(max_chunksize=5_000)), CODES.schema, key, 4,
                        4_000, encoded_ok=encoded_ok))
    return pa.Table.from_batches(out)


def test_repeated_text_moves_encoded_with_the_same_rows_values_and_order(monkeypatch):
    assert shuffle._repetitive(CODES.to_batches(max_chunksize=5_000)[0]) == [1, 2]
    encoded = shuffled_table(monkeypatch, encoded=True)
    assert encoded.schema == CODES.schema  # decoded back to its type
    plain = shuffled_table(monkeypatch, encoded=False)
    assert encoded.equals(plain)
    assert sorted(encoded["row"].to_pylist()) == list(range(ROWS))
    by_row = dict(zip(encoded["row"].to_pylist(), encoded["code"].to_pylist(), strict=True))
    assert [by_row[i] for i in range(ROWS)] == CODES["code"].to_pylist()


def test_a_column_the_caller_takes_encoded_keeps_its_values(monkeypatch):
    kept = shuffled_table(monkeypatch, encoded=True, encoded_ok={"prescriber"})
    assert pa.types.is_dictionary(kept.schema.field("prescriber").type)
    assert kept["prescriber"].cast(pa.string()).to_pylist() == \
        shuffled_table(monkeypatch, encoded=False)["prescriber"].to_pylist()


NIRS = pa.table({
    "row": np.arange(ROWS),
    # 15 digits, leading zeros; in later batches a Corsican NIR ("2A"), a shorter one, nulls
    "nir": [None if i % 101 == 0 else "2A0175123456789" if i == 21_000
            else "18401751234" if i == 22_000 else f"{(i * 7_919) % 10**15:015d}"
            for i in range(ROWS)],
})


def shuffled_nirs(monkeypatch, as_integers: bool, integers_ok=()) -> list[pa.RecordBatch]:
    if not as_integers:
        monkeypatch.setattr(shuffle.decimal, "width", lambda values: None)
    key = shuffle_key(b"s" * 32, "p/", "nirs")
    return list(shuffled(iter(NIRS.to_batches(max_chunksize=5_000)), NIRS.schema, key, 4,
                         4_000, integers_ok=integers_ok))


def test_decimal_text_moves_as_integers_with_the_same_rows_values_and_order(monkeypatch):
    assert shuffle._Plan.of(NIRS.to_batches(max_chunksize=5_000)[0]).decimal == {1: 15}
    moved = pa.Table.from_batches(shuffled_nirs(monkeypatch, as_integers=True))
    assert moved.schema == NIRS.schema  # text again
    by_row = dict(zip(moved["row"].to_pylist(), moved["nir"].to_pylist(), strict=True))
    assert [by_row[i] for i in range(ROWS)] == NIRS["nir"].to_pylist()
    assert moved.equals(pa.Table.from_batches(shuffled_nirs(monkeypatch, as_integers=False)))


def test_a_column_the_caller_takes_as_integers_says_its_width(monkeypatch):
    batches = shuffled_nirs(monkeypatch, as_integers=True, integers_ok={"nir"})
    as_integers = [b for b in batches if b.schema.field("nir").type == pa.uint64()]
    as_text = [b for b in batches if b.schema.field("nir").type == pa.string()]
    assert as_integers and as_text  # the bucket holding the two odd values comes as text
    assert len(as_integers) + len(as_text) == len(batches)
    assert all(b.schema.field("nir").metadata == {b"spe.decimal_width": b"15"}
               for b in as_integers)
    values = []
    for batch in batches:
        column = batch.column("nir")
        values += (shuffle.decimal.text(column, 15) if column.type == pa.uint64()
                   else column).to_pylist()
    plain = pa.Table.from_batches(shuffled_nirs(monkeypatch, as_integers=False))
    assert values == plain["nir"].to_pylist()


def test_encoded_output_holds_only_the_values_of_its_batch():
    categories = pa.DictionaryArray.from_arrays(
        pa.array([i % 3 for i in range(ROWS)], pa.int32()),
        pa.array(["c0", "c1", "c2", "never-used"]))
    table = pa.table({"row": np.arange(ROWS), "code": categories})
    out = list(shuffled(iter(table.to_batches(max_chunksize=5_000)), table.schema,
                        shuffle_key(b"s" * 32, "p/", "codes"), 4, 4_000, encoded_ok={"code"}))
    assert all(sorted(b.column("code").dictionary.to_pylist()) == ["c0", "c1", "c2"]
               for b in out)
    moved = pa.Table.from_batches(out)
    by_row = dict(zip(moved["row"].to_pylist(), moved["code"].to_pylist(), strict=True))
    assert [by_row[i] for i in range(ROWS)] == [f"c{i % 3}" for i in range(ROWS)]
