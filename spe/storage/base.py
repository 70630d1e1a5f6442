"""The object-storage interface: every byte spe keeps outside the database goes through it.

Two implementations share it: ``LocalObjectStore`` (a directory, the embedded default, so
``spe up`` needs no S3 server) and ``S3ObjectStore`` (the ``minio`` SDK against MinIO, a
SecNumCloud provider's S3 or, in the tests, Ceph's RADOS Gateway).

Keys are ``/``-separated paths. The layout is fixed by :mod:`spe.storage.layout`:
``sources/<dataset>/…`` and ``projects/<project>/{extracts,quarantine,releases}/…``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO


class StorageError(Exception):
    """Base of every storage failure."""


class ObjectNotFound(StorageError):
    """The key does not exist."""


class AccessDenied(StorageError):
    """The backend refused the credentials or the operation."""


class StorageUnavailable(StorageError):
    """The backend cannot be reached or failed on its side (5xx, throttling): try again later.
    The API answers 503 with Retry-After; the reconciler retries on its next pass."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    version_id: str | None
    last_modified: datetime | None


class ObjectStore(ABC):
    """A bucket-like namespace of immutable-ish objects."""

    @abstractmethod
    def put(self, key: str, data: BinaryIO, length: int = -1,
            content_type: str = "application/octet-stream") -> ObjectInfo:
        """Store a stream. ``length=-1`` streams in multipart parts of unknown total size."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object's bytes; the caller closes it."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Metadata, or :class:`ObjectNotFound`."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, recursively, sorted by key."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object (all versions where the backend versions); absent is not an error."""

    @abstractmethod
    def presigned_get(self, key: str, expires: timedelta) -> str:
        """A URL that reads the object until ``expires`` from now, and not after."""

    def put_bytes(self, key: str, data: bytes,
                  content_type: str = "application/octet-stream") -> ObjectInfo:
        import io

        return self.put(key, io.BytesIO(data), len(data), content_type)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end). Backends with ranged reads
        override this; a Parquet footer is read this way without fetching the file."""
        with self.open(key) as stream:
            if stream.seekable():
                stream.seek(offset)
            else:
                while offset > 0 and (skipped := len(stream.read(min(offset, 1 << 20)))):
                    offset -= skipped
            return stream.read(length)

    def copy(self, source: str, target: str) -> ObjectInfo:
        """Copy an object to another key; backends override with a server-side copy."""
        with self.open(source) as stream:
            return self.put(target, stream)

    def delete_prefix(self, prefix: str) -> int:
        """Delete everything under ``prefix``; returns how many objects went."""
        keys = [info.key for info in self.list(prefix)]
        for key in keys:
            self.delete(key)
        return len(keys)
