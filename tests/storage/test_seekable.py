"""open_seekable: a stored object as a seekable file, read by ranges."""

from __future__ import annotations

import io
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spe.storage.base import ObjectNotFound
from spe.storage.seekable import open_seekable


def test_seek_and_read_anywhere(s3_store):
    data = os.urandom(300_000)
    s3_store.put_bytes("blob", data)

    with open_seekable(s3_store, "blob", buffer_size=4096) as stream:
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == data[-10:]
        stream.seek(1000)
        assert stream.read(20) == data[1000:1020]
        stream.seek(5, io.SEEK_CUR)
        assert stream.tell() == 1025
        assert stream.read(3) == data[1025:1028]
        with pytest.raises(ValueError, match="before the start"):
            stream.seek(-1)


def test_a_parquet_footer_is_read_without_the_file(s3_store, monkeypatch):
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [os.urandom(2_000_000)]}), sink)  # incompressible: ~2 MB
    s3_store.put_bytes("t.parquet", sink.getvalue())
    fetched = []
    read_range = s3_store.read_range
    monkeypatch.setattr(s3_store, "read_range",
                        lambda key, offset, length: fetched.append(length)
                        or read_range(key, offset, length))

    with open_seekable(s3_store, "t.parquet") as stream:
        assert pq.ParquetFile(stream).metadata.num_rows == 1

    assert sum(fetched) < 200_000
    assert len(fetched) <= 3


def test_a_missing_object_is_not_found(s3_store):
    with pytest.raises(ObjectNotFound):
        open_seekable(s3_store, "absent")
