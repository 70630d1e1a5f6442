"""A seekable, read-only file over one stored object, fetched by byte ranges.

Parquet keeps its schema and row count in a footer at the end of the file; with this view
``pyarrow.parquet`` reads that footer with a couple of ranged reads instead of the whole file.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from spe.storage.base import ObjectStore


class _RangedObject(io.RawIOBase):
    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        self._store, self._key, self._size = store, key, size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"cannot seek before the start of {self._key!r}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        data = self._store.read_range(self._key, self._position, wanted)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def open_seekable(store: ObjectStore, key: str, buffer_size: int = 64 * 1024) -> BinaryIO:
    """The object as a buffered, seekable binary file; :class:`ObjectNotFound` if absent."""
    return io.BufferedReader(_RangedObject(store, key, store.stat(key).size), buffer_size)
