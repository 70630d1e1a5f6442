"""``ObjectStore`` on any S3-compatible endpoint through the ``minio`` SDK.

MinIO in production, a SecNumCloud provider's S3, Ceph's RADOS Gateway in the tests. Every SDK
failure leaves this module as a :mod:`spe.storage.base` error whose message names the
endpoint, bucket, operation and S3 error code, and never a credential.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import BinaryIO

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.versioningconfig import ENABLED, VersioningConfig

from spe.storage.base import (
    AccessDenied,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageUnavailable,
)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last
MAX_PRESIGN = timedelta(days=7)  # SigV4's ceiling
_NOT_FOUND = {"NoSuchKey", "NoSuchVersion"}
_DENIED = {"AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidToken",
           "ExpiredToken", "RequestTimeTooSkewed"}
_UNAVAILABLE = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}
_DELETE_BATCH = 1000  # DeleteObjects accepts at most 1000 keys
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0


def http_client(connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                read_timeout: float = READ_TIMEOUT_SECONDS,
                cert_check: bool = True) -> urllib3.PoolManager:
    """The SDK's HTTP client with bounded waits.

    The SDK's own waits up to 5 minutes to connect and for each read, and retries reads 5
    times: a server that accepts connections but never answers held an API request for up
    to half an hour. Here a connection gets ``connect_timeout`` seconds, an answer
    ``read_timeout`` seconds between bytes, and a request is tried at most twice after a
    read error (a pooled connection the server closed is retried once), so such a server
    costs a request at most about ``2 * read_timeout`` before it becomes
    :class:`StorageUnavailable` (503). 5xx and throttling are retried as the SDK does.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED" if cert_check else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, connect=2, read=1, backoff_factor=0.2,
                              status_forcelist=[500, 502, 503, 504]),
    )


class _ResponseStream(io.RawIOBase):
    """The body of a GET; closing it gives the connection back to the pool."""

    def __init__(self, response: urllib3.BaseHTTPResponse, describe: str) -> None:
        self._response = response
        self._describe = describe

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            return self._response.readinto(buffer)
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"{self._describe}: reading failed: {exc}") from exc

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


class S3ObjectStore(ObjectStore):
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str,
                 region: str | None = None, secure: bool = True, cert_check: bool = True,
                 part_size: int = 8 * 1024 * 1024,
                 connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                 read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (5 MiB)")
        self.endpoint = endpoint
        self.bucket = bucket
        self.part_size = part_size
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                             region=region, secure=secure, cert_check=cert_check,
                             http_client=http_client(connect_timeout, read_timeout,
                                                     cert_check))

    def __repr__(self) -> str:
        return f"S3ObjectStore(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    @contextmanager
    def _errors(self, operation: str, key: str | None = None) -> Iterator[None]:
        where = f"s3://{self.bucket}/{key}" if key is not None else f"s3://{self.bucket}"
        describe = f"S3 {operation} {where} at {self.endpoint}"
        try:
            yield
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                raise ObjectNotFound(f"no object {key!r} in bucket {self.bucket!r}") from exc
            error = AccessDenied if exc.code in _DENIED else \
                StorageUnavailable if exc.code in _UNAVAILABLE else StorageError
            raise error(f"{describe} failed: {exc.code}: {exc.message}") from exc
        except ServerError as exc:
            raise StorageUnavailable(f"{describe} failed: {exc}") from exc
        except InvalidResponseError as exc:
            raise StorageError(f"{describe} failed: {exc}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"{describe} failed: cannot reach the endpoint: "
                                     f"{type(exc).__name__}") from exc

    def ensure_bucket(self, versioning: bool = False) -> None:
        """Create the bucket if it is missing; with ``versioning``, turn versioning on."""
        with self._errors("create bucket"):
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    if exc.code != "BucketAlreadyOwnedByYou":
                        raise
            if versioning:
                self._client.set_bucket_versioning(self.bucket, VersioningConfig(ENABLED))

    def put(self, key: str, data: BinaryIO, length: int = -1,
            content_type: str = "application/octet-stream") -> ObjectInfo:
        with self._errors("put", key):
            written = self._client.put_object(self.bucket, key, data, length,
                                              content_type=content_type,
                                              part_size=self.part_size)
        return self._stat(key, written.version_id)

    def open(self, key: str) -> BinaryIO:
        with self._errors("get", key):
            response = self._client.get_object(self.bucket, key)
        return io.BufferedReader(_ResponseStream(response, f"S3 get s3://{self.bucket}/{key}"),
                                 buffer_size=256 * 1024)

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0:
            raise ValueError(f"need offset >= 0 and length > 0, not {offset}, {length}")
        with self._errors("get", key):
            response = self._client.get_object(self.bucket, key, offset=offset, length=length)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def copy(self, source: str, target: str) -> ObjectInfo:
        """Server-side: the bytes never leave the S3 service (multipart copy past 5 GiB)."""
        with self._errors("copy", source):
            written = self._client.copy_object(self.bucket, target,
                                               CopySource(self.bucket, source))
        return self._stat(target, written.version_id)

    def stat(self, key: str) -> ObjectInfo:
        return self._stat(key, None)

    def _stat(self, key: str, version_id: str | None) -> ObjectInfo:
        with self._errors("stat", key):
            found = self._client.stat_object(self.bucket, key, version_id=version_id)
        return ObjectInfo(key=key, size=found.size, etag=found.etag.strip('"'),
                          version_id=found.version_id, last_modified=found.last_modified)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """S3 lists keys in UTF-8 binary order, which is Python's order for ``str``."""
        with self._errors("list", prefix):
            for found in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                yield ObjectInfo(key=found.object_name, size=found.size,
                                 etag=(found.etag or "").strip('"'), version_id=None,
                                 last_modified=found.last_modified)

    def delete(self, key: str) -> None:
        self._delete_versions(key, exact=True)

    def delete_prefix(self, prefix: str) -> int:
        """Every version of every object under ``prefix``, in batches; returns how many keys."""
        return self._delete_versions(prefix, exact=False)

    def _delete_versions(self, prefix: str, exact: bool) -> int:
        """Delete markers included, so a versioned bucket keeps nothing of the object."""
        keys: set[str] = set()
        with self._errors("delete", prefix):
            batch: list[DeleteObject] = []
            for version in self._client.list_objects(self.bucket, prefix=prefix,
                                                     recursive=True, include_version=True):
                if exact and version.object_name != prefix:
                    continue
                keys.add(version.object_name)
                batch.append(DeleteObject(version.object_name, version.version_id))
                if len(batch) == _DELETE_BATCH:
                    self._remove(batch)
                    batch = []
            if batch:
                self._remove(batch)
        return len(keys)

    def _remove(self, batch: list[DeleteObject]) -> None:
        for error in self._client.remove_objects(self.bucket, batch):
            kind = AccessDenied if error.code in _DENIED else StorageError
            raise kind(f"S3 delete s3://{self.bucket}/{error.name} at {self.endpoint} failed: "
                       f"{error.code}: {error.message}")

    def presigned_get(self, key: str, expires: timedelta) -> str:
        if not timedelta(seconds=1) <= expires <= MAX_PRESIGN:
            raise ValueError(f"expires must be between 1 second and 7 days, not {expires}")
        with self._errors("presign", key):
            return self._client.presigned_get_object(self.bucket, key, expires=expires)
