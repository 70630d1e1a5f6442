"""The pipeline's threads: results in order, errors reach the caller, nothing left behind."""

from __future__ import annotations

import os
import threading
from contextlib import closing

import pytest

from spe.data.streaming import upload
from spe.storage.base import StorageError
from spe.storage.local import LocalObjectStore
from spe.threads import read_ahead


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("extract-")]


def test_chained_read_aheads_give_every_item_in_order():
    doubled = (item * 2 for item in read_ahead(iter(range(100)), "extract-a"))
    assert list(read_ahead(doubled, "extract-b")) == [2 * i for i in range(100)]
    assert pipeline_threads() == []


def test_an_error_in_an_inner_stage_reaches_the_caller_and_stops_every_thread():
    closed = []

    def source():
        try:
            yield from range(10)
        finally:
            closed.append(True)

    def failing(items):
        with closing(items):  # a stage closes its input: the read-ahead before it stops
            for item in items:
                if item == 5:
                    raise ValueError("bad batch 5")
                yield item

    with pytest.raises(ValueError, match="bad batch 5"):
        list(read_ahead(failing(read_ahead(source(), "extract-a")), "extract-b"))
    assert pipeline_threads() == []
    assert closed == [True]


def test_a_consumer_that_stops_early_stops_the_producers():
    closed = []

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.append(True)

    items = read_ahead(read_ahead(endless(), "extract-a"), "extract-b")
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()
    assert pipeline_threads() == []
    assert closed == [True]


def test_an_upload_stores_what_was_written(store):
    parts = [os.urandom(size) for size in (1, 5000, 70_000, 0, 3)]

    with upload(store, "a/b.bin", limit=4096) as target:
        for part in parts:
            target.write(memoryview(part))

    assert store.get_bytes("a/b.bin") == b"".join(parts)
    assert target.info == store.stat("a/b.bin")
    assert pipeline_threads() == []


def test_a_failed_producer_stores_nothing_and_leaves_no_temporary_file(store):
    with pytest.raises(RuntimeError, match="encryption failed"), \
            upload(store, "a/b.bin", limit=4096) as target:
        target.write(os.urandom(100_000))
        raise RuntimeError("encryption failed")

    assert list(store.list("a/")) == []
    assert list((store.root / "tmp").iterdir()) == []
    assert pipeline_threads() == []


class FailingStore(LocalObjectStore):
    """Reads a little of each upload, then fails like a store losing its connection."""

    def put(self, key, data, length=-1, content_type="application/octet-stream"):
        data.read(10)
        raise StorageError(f"put {key!r}: connection reset")


def test_a_failing_store_stops_the_producer_with_the_store_error(tmp_path):
    store = FailingStore(tmp_path / "store")

    with pytest.raises(StorageError, match="connection reset"), \
            upload(store, "a/b.bin", limit=1024) as target:
        for _ in range(1_000):  # far more than the pipe holds: the writer must not block
            target.write(os.urandom(1024))

    assert list(store.list("a/")) == []
    assert pipeline_threads() == []
