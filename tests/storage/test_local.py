"""LocalObjectStore: the ObjectStore contract on a directory."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta

import pytest

from spe.storage.base import ObjectNotFound, StorageError
from spe.storage.local import InvalidObjectKey


def test_put_then_read_back_with_an_md5_etag(store):
    info = store.put_bytes("sources/a/x.csv", b"id,age\n1,42\n")

    assert (info.key, info.size, info.version_id) == ("sources/a/x.csv", 12, None)
    assert info.etag == hashlib.md5(b"id,age\n1,42\n").hexdigest()  # noqa: S324 - S3's ETag
    assert info.last_modified is not None
    assert store.get_bytes("sources/a/x.csv") == b"id,age\n1,42\n"
    assert store.stat("sources/a/x.csv") == info


def test_a_stream_of_unknown_length_is_stored_whole(store):
    data = bytes(range(256)) * 10_000
    info = store.put("big", io.BytesIO(data))
    assert info.size == len(data)
    assert store.get_bytes("big") == data


def test_put_reads_only_the_announced_length_and_refuses_a_short_stream(store):
    assert store.put("k", io.BytesIO(b"0123456789"), length=4).size == 4
    assert store.get_bytes("k") == b"0123"
    with pytest.raises(StorageError, match="6 bytes short"):
        store.put("k", io.BytesIO(b"0123"), length=10)
    assert store.get_bytes("k") == b"0123"  # the failed put left the old object


def test_a_failed_write_leaves_no_temporary_file(store):
    class Failing(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        store.put("k", Failing())
    assert list((store.root / "tmp").iterdir()) == []
    with pytest.raises(ObjectNotFound):
        store.stat("k")


def test_a_stale_etag_record_is_recomputed(store):
    store.put_bytes("k", b"old")
    (store.root / "objects" / "k").write_bytes(b"changed behind the store's back")

    info = store.stat("k")

    assert info.etag == hashlib.md5(b"changed behind the store's back").hexdigest()  # noqa: S324
    assert json.loads((store.root / "etags" / "k").read_text())["etag"] == info.etag


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b",
                                 "a/", "a\\b", "a\x00b"])
def test_keys_that_could_escape_the_root_are_refused(store, key):
    with pytest.raises(InvalidObjectKey):
        store.put_bytes(key, b"x")
    with pytest.raises(InvalidObjectKey):
        store.open(key)


def test_missing_objects_are_not_found(store):
    store.put_bytes("dir/file", b"x")
    for key in ("nope", "dir", "dir/file/deeper"):
        with pytest.raises(ObjectNotFound):
            store.stat(key)
        with pytest.raises(ObjectNotFound):
            store.open(key)


def test_a_key_cannot_be_both_an_object_and_a_prefix(store):
    store.put_bytes("a/b", b"x")
    with pytest.raises(StorageError, match="prefix of other objects"):
        store.put_bytes("a", b"y")
    with pytest.raises(StorageError, match="a parent of it is an object"):
        store.put_bytes("a/b/c", b"y")


def test_list_is_recursive_sorted_and_bounded_by_prefix(store):
    for key in ["p/b/2", "p/a", "p/b/1", "pz", "q", "p-1"]:
        store.put_bytes(key, key.encode())

    assert [info.key for info in store.list("p/")] == ["p/a", "p/b/1", "p/b/2"]
    assert [info.key for info in store.list("p")] == ["p-1", "p/a", "p/b/1", "p/b/2", "pz"]
    assert [info.size for info in store.list("p/b/")] == [5, 5]
    assert list(store.list("none/")) == []
    with pytest.raises(InvalidObjectKey):
        list(store.list("../"))


def test_delete_removes_the_object_and_absent_is_fine(store):
    store.put_bytes("a/1", b"x")
    store.put_bytes("a/10", b"y")

    store.delete("a/1")
    store.delete("a/1")

    with pytest.raises(ObjectNotFound):
        store.stat("a/1")
    assert store.get_bytes("a/10") == b"y"


def test_delete_prefix_empties_the_tree_so_the_prefix_can_become_a_key(store):
    for key in ["projects/p1/a", "projects/p1/b/c", "projects/p2/a"]:
        store.put_bytes(key, b"1")

    assert store.delete_prefix("projects/p1/") == 2

    assert [info.key for info in store.list("")] == ["projects/p2/a"]
    assert not (store.root / "objects" / "projects" / "p1").exists()
    store.put_bytes("projects/p1", b"now an object")


def test_read_range_and_copy(store):
    store.put_bytes("r", bytes(range(100)))

    assert store.read_range("r", 10, 5) == bytes(range(10, 15))
    assert store.read_range("r", 95, 50) == bytes(range(95, 100))
    copied = store.copy("r", "copies/r")
    assert copied.etag == store.stat("r").etag
    assert store.get_bytes("copies/r") == bytes(range(100))
    with pytest.raises(ObjectNotFound):
        store.copy("absent", "x")


def test_presigned_urls_are_refused_rather_than_unenforceable(store):
    store.put_bytes("r", b"x")
    with pytest.raises(StorageError, match="presigned URLs need an S3 backend"):
        store.presigned_get("r", timedelta(minutes=5))
