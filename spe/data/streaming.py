"""The threads of the extract pipeline, so that its stages overlap on several cores.

- :func:`spe.threads.read_ahead` produces the items of an iterator one ahead in a thread:
  chained, each stage (reading, pseudonymising) works on the next batch while the following
  stage works on this one. Arrow, OpenSSL and file I/O release the GIL, so the stages really
  overlap.
- :func:`upload` hands the ciphertext to ``ObjectStore.put`` while it is produced, through
  a bounded in-memory pipe: no temporary file, and the store's own hashing and writing (or
  S3 upload) run beside the encryption.

Both tie the fate of the two sides together: an error on either side stops both and reaches
the caller, and no thread outlives the call. An upload whose producer fails is aborted, not
completed: its reading end raises :class:`UploadAborted` instead of reporting the end of the
stream, so the store discards what it had (a local store deletes its temporary file, S3
aborts the multipart upload) and never publishes a truncated object.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from spe.storage.base import ObjectInfo, ObjectStore

PIPE_BYTES = 8 << 20
"""How much ciphertext may wait in the pipe for the store: a few encryption chunks."""


class UploadAborted(Exception):
    """Raised to the store reading an upload whose producer failed."""


class _Pipe:
    """A bounded byte pipe between one writing and one reading thread. ``read`` returns the
    written ``bytes`` objects themselves when they fit: no copy for whole chunks."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._changed = threading.Condition()
        self._finished = False
        self._aborted = False
        self._reader_failed = False

    # the writing end (the encryption), given to the producer
    def write(self, data) -> int:
        chunk = bytes(data)
        if not chunk:  # an empty read would tell the store the stream has ended
            return 0
        with self._changed:
            while self._buffered >= self._limit and not self._reader_failed:
                self._changed.wait()
            if self._reader_failed:
                raise BrokenPipeError("the store stopped reading the upload")
            self._chunks.append(chunk)
            self._buffered += len(chunk)
            self._changed.notify_all()
        return len(chunk)

    def finish(self, aborted: bool) -> None:
        with self._changed:
            self._finished = True
            self._aborted = aborted
            self._changed.notify_all()

    # the reading end, given to ObjectStore.put
    def read(self, size: int = -1) -> bytes:
        with self._changed:
            while not self._chunks and not self._finished:
                self._changed.wait()
            if self._aborted:
                raise UploadAborted("the extract failed while its file was being uploaded")
            if not self._chunks:
                return b""
            chunk = self._chunks.popleft()
            if 0 <= size < len(chunk):
                chunk, rest = chunk[:size], chunk[size:]
                self._chunks.appendleft(rest)
            self._buffered -= len(chunk)
            self._changed.notify_all()
            return chunk

    def stop_reading(self) -> None:
        with self._changed:
            self._reader_failed = True
            self._changed.notify_all()


class Upload:
    """The writing end of :func:`upload`; ``info`` is the stored object's, once stored."""

    def __init__(self, pipe: _Pipe) -> None:
        self._pipe = pipe
        self.info: ObjectInfo | None = None

    def write(self, data) -> int:
        return self._pipe.write(data)


@contextmanager
def upload(store: ObjectStore, key: str, limit: int = PIPE_BYTES) -> Iterator[Upload]:
    """Stream what is written to the yielded :class:`Upload` into ``store`` under ``key``
    (length unknown), in a thread. The object is stored when the block ends normally, and
    never if it raises."""
    pipe = _Pipe(limit)
    target = Upload(pipe)
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            target.info = store.put(key, pipe, -1)
        except BaseException as exc:  # raised in the producer's thread, below
            failure.append(exc)
            pipe.stop_reading()

    thread = threading.Thread(target=consume, name="extract-upload", daemon=True)
    thread.start()
    try:
        yield target
    except BaseException:
        pipe.finish(aborted=True)
        thread.join()
        if failure and not isinstance(failure[0], UploadAborted):
            raise failure[0] from None  # the store failed first: the cause
        raise
    pipe.finish(aborted=False)
    thread.join()
    if failure:
        raise failure[0]
