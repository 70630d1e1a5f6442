"""S3ObjectStore against a real S3 server (Ceph RADOS Gateway, tests/servers/ceph.py)."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta

import httpx
import pytest
from minio import Minio

from spe.storage.base import AccessDenied, ObjectNotFound, StorageError
from spe.storage.s3 import MIN_PART_SIZE, S3ObjectStore


class _UnsizedStream(io.RawIOBase):
    """A stream that cannot say its length, like a request body being received."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._data.readinto(buffer)


def _versions(server, store: S3ObjectStore) -> list[tuple[str, bool]]:
    client = Minio(server.endpoint, server.access_key, server.secret_key,
                   region=server.region, secure=False)
    return [(v.object_name, v.is_delete_marker)
            for v in client.list_objects(store.bucket, recursive=True, include_version=True)]


def test_put_then_read_back(s3_store):
    info = s3_store.put_bytes("sources/a/x.csv", b"id,age\n1,42\n", content_type="text/csv")

    assert info.key == "sources/a/x.csv"
    assert info.size == 12
    assert info.etag == hashlib.md5(b"id,age\n1,42\n").hexdigest()  # noqa: S324 - S3's ETag
    assert info.last_modified is not None
    assert s3_store.get_bytes("sources/a/x.csv") == b"id,age\n1,42\n"
    assert s3_store.stat("sources/a/x.csv") == info


def test_multipart_upload_of_unknown_length(s3_server):
    store = s3_server.new_store(part_size=MIN_PART_SIZE)
    data = os.urandom(2 * MIN_PART_SIZE + 12345)

    info = store.put("big.bin", io.BufferedReader(_UnsizedStream(data)))

    assert info.size == len(data)
    assert info.etag.endswith("-3")  # three parts: 5 MiB, 5 MiB and the rest
    with store.open("big.bin") as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()


def test_open_streams_and_releases_the_connection(s3_store):
    s3_store.put_bytes("k", b"0123456789" * 100_000)  # more than one buffer: not read to EOF

    pool = s3_store._client._http.connection_from_url(f"http://{s3_store.endpoint}")
    opened = pool.num_connections

    for _ in range(5):
        with s3_store.open("k") as stream:
            assert stream.read(10) == b"0123456789"
        assert stream.closed

    assert pool.num_connections - opened <= 1  # every close gave its connection back


def test_missing_objects_are_not_found(s3_store):
    with pytest.raises(ObjectNotFound, match="nope"):
        s3_store.stat("nope")
    with pytest.raises(ObjectNotFound):
        s3_store.open("nope")


def test_list_is_recursive_sorted_and_bounded_by_prefix(s3_store):
    for key in ["p/b/2", "p/a", "p/b/1", "pz", "q"]:
        s3_store.put_bytes(key, key.encode())

    assert [info.key for info in s3_store.list("p/")] == ["p/a", "p/b/1", "p/b/2"]
    assert [info.size for info in s3_store.list("p/b/")] == [5, 5]
    assert list(s3_store.list("none/")) == []


def test_delete_removes_the_object_and_absent_is_fine(s3_store):
    s3_store.put_bytes("a/1", b"x")
    s3_store.put_bytes("a/10", b"y")

    s3_store.delete("a/1")
    s3_store.delete("a/1")

    with pytest.raises(ObjectNotFound):
        s3_store.stat("a/1")
    assert s3_store.get_bytes("a/10") == b"y"  # a key sharing the prefix stays


def test_delete_on_a_versioned_bucket_leaves_no_version(s3_server):
    store = s3_server.new_store(versioning=True)
    first = store.put_bytes("doc", b"v1")
    second = store.put_bytes("doc", b"v2")
    store.put_bytes("other", b"kept")
    assert first.version_id and second.version_id and first.version_id != second.version_id

    store.delete("doc")

    assert _versions(s3_server, store) == [("other", False)]


def test_delete_prefix_removes_every_version_under_it(s3_server):
    store = s3_server.new_store(versioning=True)
    for key in ["projects/p1/a", "projects/p1/b/c", "projects/p2/a"]:
        store.put_bytes(key, b"1")
        store.put_bytes(key, b"2")

    assert store.delete_prefix("projects/p1/") == 2
    assert _versions(s3_server, store) == [("projects/p2/a", False), ("projects/p2/a", False)]


def test_presigned_url_reads_until_expiry_and_not_after(s3_store):
    s3_store.put_bytes("r", b"released")
    url = s3_store.presigned_get("r", timedelta(seconds=1))

    assert httpx.get(url).content == b"released"
    time.sleep(2.1)
    refused = httpx.get(url)
    assert refused.status_code == 403
    assert b"AccessDenied" in refused.content


def test_presign_expiry_is_bounded(s3_store):
    with pytest.raises(ValueError, match="between 1 second and 7 days"):
        s3_store.presigned_get("r", timedelta(days=8))


def test_wrong_secret_key_is_refused_without_leaking_it(s3_server, s3_store):
    wrong = "not-the-secret-" + "z" * 20
    store = S3ObjectStore(s3_server.endpoint, s3_server.access_key, wrong, s3_store.bucket,
                          region=s3_server.region, secure=False)

    with pytest.raises(AccessDenied, match="SignatureDoesNotMatch") as refused:
        store.put_bytes("x", b"x")
    assert wrong not in str(refused.value)
    assert s3_server.secret_key not in str(refused.value)
    with pytest.raises(AccessDenied):
        store.get_bytes("x")


def test_a_missing_bucket_is_a_storage_error(s3_server):
    store = S3ObjectStore(s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
                          "spe-never-created", region=s3_server.region, secure=False)

    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.put_bytes("x", b"x")


def test_ensure_bucket_is_idempotent(s3_store):
    s3_store.put_bytes("x", b"x")
    s3_store.ensure_bucket()
    assert s3_store.get_bytes("x") == b"x"


def test_part_size_below_the_s3_minimum_is_refused(s3_server):
    with pytest.raises(ValueError, match="5 MiB"):
        S3ObjectStore(s3_server.endpoint, "a", "b", "bucket", part_size=MIN_PART_SIZE - 1)


def test_read_range_fetches_only_the_range(s3_store):
    s3_store.put_bytes("r", bytes(range(100)))

    assert s3_store.read_range("r", 10, 5) == bytes(range(10, 15))
    assert s3_store.read_range("r", 95, 50) == bytes(range(95, 100))
    with pytest.raises(ObjectNotFound):
        s3_store.read_range("absent", 0, 1)


def test_copy_is_server_side_and_keeps_the_source(s3_store):
    s3_store.put_bytes("from", b"payload")

    info = s3_store.copy("from", "to")

    assert (info.key, info.size) == ("to", 7)
    assert s3_store.get_bytes("to") == s3_store.get_bytes("from") == b"payload"
    with pytest.raises(ObjectNotFound):
        s3_store.copy("absent", "to2")
