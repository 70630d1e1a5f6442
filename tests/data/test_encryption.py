"""Streaming AES-256-GCM: round trips, and every change to the ciphertext refused."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spe.data.encryption import (
    TAG_SIZE,
    DecryptingReader,
    EncryptingWriter,
    FormatError,
    IntegrityError,
    TamperedError,
    TruncatedError,
    WrongKeyError,
    decrypt_stream,
    encrypt_stream,
    read_header,
)

KEY = bytes(range(32))
CHUNK = 64


def encrypt(data: bytes, key: bytes = KEY, chunk_size: int = CHUNK) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key, "dk-test", chunk_size)
    return out.getvalue()


def decrypt(blob: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(blob), out, key)
    return out.getvalue()


def split(blob: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the sealed chunks of ``blob``."""
    stream = io.BytesIO(blob)
    header = read_header(stream)
    body = stream.read()
    size = header.chunk_size + TAG_SIZE
    return blob[:len(blob) - len(body)], [body[i:i + size] for i in range(0, len(body), size)]


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2000), chunk_size=st.integers(1, 300))
def test_round_trip(data, chunk_size):
    blob = encrypt(data, chunk_size=chunk_size)
    assert decrypt(blob) == data
    assert DecryptingReader(io.BytesIO(blob), KEY).read() == data


@settings(max_examples=30, deadline=None)
@given(data=st.binary(min_size=1, max_size=1000),
       writes=st.lists(st.integers(1, 200), min_size=1, max_size=20))
def test_writes_of_any_size_give_the_same_plaintext(data, writes):
    out = io.BytesIO()
    with EncryptingWriter(out, KEY, "dk", chunk_size=50) as writer:
        position = 0
        for size in writes:
            writer.write(data[position:position + size])
            position += size
        writer.write(data[position:])
    assert decrypt(out.getvalue()) == data
    assert writer.tell() == len(data)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK])
def test_chunk_boundaries(size):
    data = os.urandom(size)
    blob = encrypt(data)
    _header, chunks = split(blob)
    assert len(chunks) == max(1, -(-size // CHUNK))
    assert decrypt(blob) == data


def test_the_reader_reads_in_small_pieces():
    data = os.urandom(5 * CHUNK + 7)
    reader = DecryptingReader(io.BytesIO(encrypt(data)), KEY)
    assert b"".join(iter(lambda: reader.read(13), b"")) == data


def test_same_plaintext_gives_different_ciphertext():
    assert encrypt(b"x" * 200) != encrypt(b"x" * 200)


def test_the_header_names_the_key():
    assert read_header(io.BytesIO(encrypt(b"abc"))).key_id == "dk-test"


def test_a_wrong_key_is_told_apart_from_tampering():
    with pytest.raises(WrongKeyError, match="dk-test"):
        decrypt(encrypt(b"secret data"), key=bytes(32))


def test_a_flipped_bit_in_any_chunk_is_refused():
    blob = bytearray(encrypt(os.urandom(3 * CHUNK + 5)))
    header, _chunks = split(bytes(blob))
    for position in (len(header), len(header) + CHUNK + TAG_SIZE + 3, len(blob) - 1):
        altered = bytearray(blob)
        altered[position] ^= 1
        with pytest.raises(TamperedError, match="fails authentication"):
            decrypt(bytes(altered))


def test_an_altered_header_is_refused():
    blob = encrypt(os.urandom(100))
    altered = blob.replace(b"dk-test", b"dk-tesu")
    with pytest.raises(TamperedError):
        decrypt(altered)
    with pytest.raises(FormatError, match="bad magic"):
        decrypt(b"XXXX" + blob[4:])
    with pytest.raises(FormatError, match="version"):
        decrypt(blob[:4] + b"\x02" + blob[5:])


def test_reordered_chunks_are_refused():
    header, chunks = split(encrypt(os.urandom(3 * CHUNK + 5)))
    swapped = header + chunks[1] + chunks[0] + chunks[2] + chunks[3]
    with pytest.raises(TamperedError):
        decrypt(swapped)


def test_a_duplicated_chunk_is_refused():
    header, chunks = split(encrypt(os.urandom(3 * CHUNK + 5)))
    with pytest.raises(TamperedError):
        decrypt(header + chunks[0] + chunks[0] + b"".join(chunks[1:]))


def test_a_file_cut_at_a_chunk_boundary_is_truncated():
    header, chunks = split(encrypt(os.urandom(3 * CHUNK + 5)))
    for kept in (1, 2, 3):
        with pytest.raises(TruncatedError, match=f"after chunk {kept - 1}"):
            decrypt(header + b"".join(chunks[:kept]))
    with pytest.raises(TruncatedError, match="inside the header"):
        decrypt(header[:-2])


def test_a_file_cut_inside_a_chunk_is_refused():
    blob = encrypt(os.urandom(3 * CHUNK + 5))
    with pytest.raises(IntegrityError):
        decrypt(blob[:-3])


@pytest.mark.parametrize("size", [2 * CHUNK, 2 * CHUNK + 5])
def test_data_after_the_final_chunk_is_refused(size):
    blob = encrypt(os.urandom(size))
    _header, chunks = split(blob)
    for extra in (b"x", os.urandom(CHUNK + TAG_SIZE), chunks[-1]):
        with pytest.raises(TamperedError):
            decrypt(blob + extra)


def test_extension_past_a_full_final_chunk_is_named():
    blob = encrypt(os.urandom(2 * CHUNK))
    with pytest.raises(TamperedError, match="data follows the final chunk 1"):
        decrypt(blob + b"x")


def test_a_chunk_from_another_file_under_the_same_key_is_refused():
    header_a, chunks_a = split(encrypt(os.urandom(2 * CHUNK)))
    _header_b, chunks_b = split(encrypt(os.urandom(2 * CHUNK)))
    with pytest.raises(TamperedError):
        decrypt(header_a + chunks_a[0] + chunks_b[1])


def test_a_writer_left_by_an_exception_writes_no_final_chunk():
    out = io.BytesIO()
    with pytest.raises(RuntimeError), EncryptingWriter(out, KEY, "dk", CHUNK) as writer:
        writer.write(os.urandom(3 * CHUNK))
        raise RuntimeError("the Parquet writer failed")
    with pytest.raises(TruncatedError):
        decrypt(out.getvalue())


def test_keys_must_be_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt(b"x", key=b"short")
