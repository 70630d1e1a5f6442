"""``ObjectStore`` on a local directory: the embedded default, so ``spe up`` needs no S3 server.

Layout under ``root``::

    objects/<key>     the object's bytes
    etags/<key>       {"etag", "size", "mtime_ns", "ino"}: the MD5 of the bytes (S3's ETag of
                      a single-part upload), computed while writing
    tmp/              files being written; each put is a write there, fsync, then a rename,
                      so a reader sees the old object or the new one, never half of either

The ETag record carries the identity of the file it describes; when a crash fell between the
object's rename and the record's, the record no longer matches and the ETag is recomputed.

Keys are ``/``-separated paths without empty, ``.`` or ``..`` segments; one key cannot be both
an object and the parent of another (``a`` and ``a/b``), which S3 allows and a file system not.

No presigned URLs: an expiring URL needs a server that enforces the expiry, which a directory
is not. :meth:`LocalObjectStore.presigned_get` raises; workspaces on the local runtime read
their extract through the control plane instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from spe.fs import private_folder
from spe.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError

_COPY_BUFFER = 1 << 20


class InvalidObjectKey(StorageError, ValueError):
    """A key that cannot name a file inside the store's root."""


def check_key(key: str) -> str:
    """``key`` if every segment is a plain name, else :class:`InvalidObjectKey`."""
    if not isinstance(key, str) or not key:
        raise InvalidObjectKey(f"invalid object key {key!r}: empty")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidObjectKey(f"invalid object key {key!r}: absolute, backslash or NUL")
    if any(segment in ("", ".", "..") for segment in key.split("/")):
        raise InvalidObjectKey(f"invalid object key {key!r}: empty, '.' or '..' segment")
    return key


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._etags = self.root / "etags"
        self._tmp = self.root / "tmp"
        for directory in (self._objects, self._etags, self._tmp):
            private_folder(directory)  # what it holds is the projects' data: 0700

    def __repr__(self) -> str:
        return f"LocalObjectStore(root={str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self._objects / check_key(key)

    def put(self, key: str, data: BinaryIO, length: int = -1,
            content_type: str = "application/octet-stream") -> ObjectInfo:
        target = self._path(key)
        digest = hashlib.md5(usedforsecurity=False)
        fd, temp_name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                while remaining != 0:
                    chunk = data.read(_COPY_BUFFER if remaining < 0
                                      else min(_COPY_BUFFER, remaining))
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    if remaining > 0:
                        remaining -= len(chunk)
                if remaining > 0:
                    raise StorageError(f"put {key!r}: the stream ended {remaining} bytes "
                                       f"short of the announced length {length}")
                out.flush()
                os.fsync(out.fileno())
            self._make_parent(key, target)
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return self._record(key, target, digest.hexdigest())

    def _make_parent(self, key: str, target: Path) -> None:
        try:
            private_folder(target.parent)
        except (FileExistsError, NotADirectoryError) as exc:
            raise StorageError(f"cannot store {key!r}: a parent of it is an object") from exc
        if not target.parent.is_dir():
            raise StorageError(f"cannot store {key!r}: a parent of it is an object")
        if target.is_dir():
            raise StorageError(f"cannot store {key!r}: it is the prefix of other objects")

    def _record(self, key: str, target: Path, etag: str) -> ObjectInfo:
        found = target.stat()
        record = self._etags / key
        private_folder(record.parent)
        fd, temp_name = tempfile.mkstemp(dir=self._tmp)
        with os.fdopen(fd, "w") as out:
            json.dump({"etag": etag, "size": found.st_size, "mtime_ns": found.st_mtime_ns,
                       "ino": found.st_ino}, out)
        os.replace(temp_name, record)
        return _info(key, found, etag)

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.root}") from exc

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0:
            raise ValueError(f"need offset >= 0 and length > 0, not {offset}, {length}")
        with self.open(key) as stream:
            stream.seek(offset)
            return stream.read(length)

    def stat(self, key: str) -> ObjectInfo:
        target = self._path(key)
        try:
            found = target.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.root}") from exc
        if not target.is_file():
            raise ObjectNotFound(f"no object {key!r} in {self.root}: it is a prefix")
        try:
            record = json.loads((self._etags / key).read_text())
        except (OSError, ValueError):
            record = {}
        if (record.get("size"), record.get("mtime_ns"), record.get("ino")) == (
                found.st_size, found.st_mtime_ns, found.st_ino):
            return _info(key, found, record["etag"])
        return self._record(key, target, _md5_of(target))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Walks only the directory that holds ``prefix``; keys sorted as S3 sorts them."""
        parent = prefix.rpartition("/")[0]
        directory = self._objects / check_key(parent) if parent else self._objects
        if not directory.is_dir():
            return
        keys = []
        for parent, _dirs, files in os.walk(directory):
            relative = Path(parent).relative_to(self._objects).as_posix()
            for name in files:
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            try:
                yield self.stat(key)
            except ObjectNotFound:
                continue  # deleted while listing

    def delete(self, key: str) -> None:
        target = self._path(key)
        if target.is_dir():
            return  # a prefix, not an object: nothing named ``key`` exists
        target.unlink(missing_ok=True)
        (self._etags / key).unlink(missing_ok=True)
        for base in (self._objects, self._etags):
            _prune_empty_parents(base, base / key)

    def copy(self, source: str, target: str) -> ObjectInfo:
        etag = self.stat(source).etag
        destination = self._path(target)
        fd, temp_name = tempfile.mkstemp(dir=self._tmp)
        os.close(fd)
        try:
            shutil.copyfile(self._path(source), temp_name)
            self._make_parent(target, destination)
            os.replace(temp_name, destination)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return self._record(target, destination, etag)

    def presigned_get(self, key: str, expires: timedelta) -> str:
        raise StorageError("presigned URLs need an S3 backend: a local directory cannot "
                           "enforce an expiry; serve the object through the control plane")


def _info(key: str, found: os.stat_result, etag: str) -> ObjectInfo:
    return ObjectInfo(key=key, size=found.st_size, etag=etag, version_id=None,
                      last_modified=datetime.fromtimestamp(found.st_mtime, UTC))


def _md5_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def _prune_empty_parents(base: Path, path: Path) -> None:
    """Remove the now-empty directories between ``path`` and ``base``, so a deleted prefix
    can become an object key again."""
    parent = path.parent
    while parent != base:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent
