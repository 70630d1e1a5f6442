"""Streaming authenticated encryption of extract files: AES-256-GCM in chunks (STREAM).

The container::

    header   magic "SPEX" | version 1 | chunk size (u32, big-endian) | nonce prefix (7 bytes,
             random per file) | key check (16 bytes) | key id length (u8) | key id (UTF-8)
    chunks   AES-256-GCM(plaintext chunk) || tag, every chunk ``chunk size`` bytes of
             plaintext except the last (0 to ``chunk size``, empty only for an empty file)

Chunk ``i`` is sealed under nonce ``prefix || i (u32) || final flag (1 byte)`` with the whole
header as associated data. This is the STREAM construction (Hoang, Reyhanitabar, Rogaway and
Vizár, 2015, as in age and Tink): the index and the final flag enter every tag through the
nonce, the header through the associated data, so a reordered, dropped, duplicated or
altered chunk, a changed header, a stream cut at a chunk boundary (no chunk flagged final)
and bytes after the final chunk are all detected. Nonces never repeat under one key as long as
the 56-bit random prefixes of the files it encrypts do not collide (about 2^-24 after 2^16
files, the birthday bound).

The key check, ``HMAC-SHA-256(key, "spe-extract-key-check/v1" || prefix)`` truncated to 16
bytes, tells a wrong key from tampering before any chunk is tried and commits the file to one
key. The key id only names the key to fetch; it proves nothing.

Errors::

    EncryptionError
    ├── FormatError        not this container, or a version this code does not read
    ├── WrongKeyError      the key is not the one the file was encrypted with
    └── IntegrityError     the ciphertext was changed
        ├── TamperedError  a chunk fails authentication, or data follows the final chunk
        └── TruncatedError the stream ends before its final chunk
"""

from __future__ import annotations

import hmac
import io
import secrets
import struct
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"SPEX"
VERSION = 1
CIPHER = "aes-256-gcm-stream/v1"
DEFAULT_CHUNK_SIZE = 1 << 20
MAX_CHUNK_SIZE = 1 << 26
TAG_SIZE = 16
KEY_SIZE = 32
_PREFIX_SIZE = 7
_FIXED = struct.Struct(f">4sBI{_PREFIX_SIZE}s16sB")
_KEY_CHECK_LABEL = b"spe-extract-key-check/v1"


class EncryptionError(Exception):
    """Base of every failure to encrypt or decrypt an extract file."""


class FormatError(EncryptionError):
    """Not an spe encrypted file, or a version this code cannot read."""


class WrongKeyError(EncryptionError):
    """The key given is not the key the file was encrypted with."""


class IntegrityError(EncryptionError):
    """The ciphertext is not what was written."""


class TamperedError(IntegrityError):
    """A chunk fails authentication, or data follows the final chunk."""


class TruncatedError(IntegrityError):
    """The stream ends before its final chunk."""


@dataclass(frozen=True)
class Header:
    chunk_size: int
    nonce_prefix: bytes
    key_check: bytes
    key_id: str

    def encode(self) -> bytes:
        key_id = self.key_id.encode("utf-8")
        return _FIXED.pack(MAGIC, VERSION, self.chunk_size, self.nonce_prefix,
                           self.key_check, len(key_id)) + key_id


def _key_check(key: bytes, nonce_prefix: bytes) -> bytes:
    return hmac.digest(key, _KEY_CHECK_LABEL + nonce_prefix, "sha256")[:16]


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    if index >= 1 << 32:
        raise EncryptionError("more than 2^32 chunks: use a larger chunk size")
    return prefix + struct.pack(">IB", index, final)


def _check_key(key: bytes) -> AESGCM:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise ValueError(f"an extract key is {KEY_SIZE} bytes")
    return AESGCM(bytes(key))


def read_header(reader: BinaryIO) -> Header:
    """Parse the header at the start of ``reader`` (which is left just after it)."""
    fixed = _read_exact(reader, _FIXED.size)
    if len(fixed) < _FIXED.size or fixed[:4] != MAGIC:
        raise FormatError("not an spe encrypted file (bad magic)")
    _magic, version, chunk_size, prefix, check, id_length = _FIXED.unpack(fixed)
    if version != VERSION:
        raise FormatError(f"encrypted file version {version}; this code reads {VERSION}")
    if not 0 < chunk_size <= MAX_CHUNK_SIZE:
        raise FormatError(f"chunk size {chunk_size} outside 1..{MAX_CHUNK_SIZE}")
    key_id = _read_exact(reader, id_length)
    if len(key_id) < id_length:
        raise TruncatedError("the stream ends inside the header")
    try:
        return Header(chunk_size, prefix, check, key_id.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise FormatError("the key id in the header is not UTF-8") from exc


class EncryptingWriter:
    """A writable stream that seals what it is given into ``raw`` (left open), holding at
    most one chunk in memory. Only :meth:`close` writes the final chunk: a writer abandoned
    on an error, or used as a context manager left by an exception, never produces a valid
    file of partial content."""

    def __init__(self, raw: BinaryIO, key: bytes, key_id: str,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size must be in 1..{MAX_CHUNK_SIZE}")
        if len(key_id.encode("utf-8")) > 255:
            raise ValueError("a key id is at most 255 bytes of UTF-8")
        self._aead = _check_key(key)
        prefix = secrets.token_bytes(_PREFIX_SIZE)
        self.header = Header(chunk_size, prefix, _key_check(bytes(key), prefix), key_id)
        self._aad = self.header.encode()
        self._raw = raw
        self._buffer = bytearray()
        self._index = 0
        self._position = 0
        self.closed = False
        raw.write(self._aad)

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Nothing to flush: a partial chunk cannot be sealed before it is complete."""

    def tell(self) -> int:
        """Plaintext bytes written so far."""
        return self._position

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        written = len(view)
        size = self.header.chunk_size
        # the buffer holds the last chunk back (only close() knows it is the final one);
        # whole chunks are sealed straight from ``data``, without a copy
        if self._buffer and view:
            room = size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if view:
                self._seal(self._buffer, final=False)
                self._buffer.clear()
        while len(view) > size:
            self._seal(view[:size], final=False)
            view = view[size:]
        self._buffer += view
        self._position += written
        return written

    def _seal(self, chunk, final: bool) -> None:
        nonce = _nonce(self.header.nonce_prefix, self._index, final)
        self._raw.write(self._aead.encrypt(nonce, chunk, self._aad))
        self._index += 1

    def close(self) -> None:
        """Seal the final chunk."""
        if not self.closed:
            self._seal(self._buffer, final=True)
            self._buffer = bytearray()
            self.closed = True


class DecryptingReader(io.RawIOBase):
    """A readable stream of the plaintext of ``raw``; every byte it returns has been
    authenticated. Raises :class:`WrongKeyError` at construction when the key does not fit."""

    def __init__(self, raw: BinaryIO, key: bytes) -> None:
        self._aead = _check_key(key)
        self._raw = raw
        self.header = read_header(raw)
        if not hmac.compare_digest(self.header.key_check,
                                   _key_check(bytes(key), self.header.nonce_prefix)):
            raise WrongKeyError(f"the file was encrypted with key {self.header.key_id!r}, "
                                "not with the key given")
        self._aad = self.header.encode()
        self._index = 0
        self._lookahead = b""
        self._finished = False
        self._plain = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def chunks(self):
        """The authenticated plaintext, chunk by chunk."""
        while (chunk := self._next_chunk()) is not None:
            yield chunk

    def _next_chunk(self) -> bytes | None:
        if self._finished:
            return None
        sealed_size = self.header.chunk_size + TAG_SIZE
        # one byte past a full chunk tells whether another chunk follows
        data = self._lookahead + _read_exact(self._raw, sealed_size + 1 - len(self._lookahead))
        sealed, self._lookahead = data[:sealed_size], data[sealed_size:]
        final = not self._lookahead
        index = self._index
        try:
            plain = self._aead.decrypt(_nonce(self.header.nonce_prefix, index, final),
                                       sealed, self._aad)
        except InvalidTag:
            self._diagnose(sealed, index, final)
        self._index += 1
        self._finished = final
        return plain

    def _diagnose(self, sealed: bytes, index: int, final: bool) -> None:
        try:
            self._aead.decrypt(_nonce(self.header.nonce_prefix, index, not final),
                               sealed, self._aad)
        except InvalidTag:
            raise TamperedError(f"chunk {index} fails authentication: the file was altered, "
                                "reordered or cut inside a chunk") from None
        if final:
            raise TruncatedError(f"the stream ends after chunk {index}, which is not the "
                                 "final chunk")
        raise TamperedError(f"data follows the final chunk {index}")

    def readinto(self, buffer) -> int:
        while self._offset == len(self._plain):
            chunk = self._next_chunk()
            if chunk is None:
                return 0
            self._plain, self._offset = chunk, 0
        count = min(len(buffer), len(self._plain) - self._offset)
        buffer[:count] = self._plain[self._offset:self._offset + count]
        self._offset += count
        return count


def encrypt_stream(reader: BinaryIO, writer: BinaryIO, key: bytes, key_id: str,
                   chunk_size: int = DEFAULT_CHUNK_SIZE) -> int:
    """Encrypt everything ``reader`` gives into ``writer``; returns the plaintext size."""
    sealer = EncryptingWriter(writer, key, key_id, chunk_size)
    while block := reader.read(chunk_size):
        sealer.write(block)
    sealer.close()
    return sealer.tell()


def decrypt_stream(reader: BinaryIO, writer: BinaryIO, key: bytes) -> int:
    """Decrypt ``reader`` into ``writer``; returns the plaintext size. Authenticated chunk by
    chunk: on an :class:`IntegrityError` the writer holds a prefix to be discarded."""
    total = 0
    for chunk in DecryptingReader(reader, key).chunks():
        writer.write(chunk)
        total += len(chunk)
    return total


def _read_exact(reader: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream."""
    parts = []
    while size > 0 and (part := reader.read(size)):
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
