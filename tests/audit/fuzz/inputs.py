"""Inputs for the compiled verifier's fuzz harness (harness.c): PostgreSQL COPY BINARY
streams of audit leaves built like the server sends them, and SQLite files, each behind the
harness's mode byte."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spe.audit import encoding, merkle

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COLUMNS = 20
OLD = datetime(2020, 3, 4, 5, 6, 7, 89, tzinfo=UTC)  # before the harness's cutoff (2025)


def _field(value: bytes | None) -> bytes:
    return struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value


def _timestamptz(ts: datetime) -> bytes:
    return struct.pack(">q", (ts - PG_EPOCH) // timedelta(microseconds=1))


def copy_row(seq: int, ts: datetime = OLD, body: bool = False,
             version: int = encoding.VERSION, leaf_hash: bytes | None = None) -> bytes:
    """One tuple as ``scan.native_queries`` selects it: a purged leaf, or one with its
    body (both valid: the verifier accepts them)."""
    fields = {"seq": seq, "ts": ts, "actor_type": "system", "actor_id": "fuzz",
              "actor_role": None, "action": "fuzz.row", "target_type": "log",
              "target_id": str(seq), "project_id": None, "outcome": "success",
              "request_id": None, "trace_id": None, "client_addr": "::1",
              "details": {"seq": seq}}
    salt = hashlib.sha256(b"salt %d" % seq).digest()
    commitment = encoding.commitment(salt, encoding.body_bytes(fields, version))
    leaf_hash = leaf_hash or merkle.leaf_hash(encoding.leaf_bytes(seq, ts, commitment,
                                                                  version))
    values: list[bytes | None] = [struct.pack(">q", seq), struct.pack(">h", version),
                                  _timestamptz(ts), commitment, leaf_hash]
    if body:
        texts = [fields[n] for n in encoding.BODY_FIELDS[2:-1]]
        values += [struct.pack(">q", seq), salt, _timestamptz(ts),
                   *(None if t is None else t.encode() for t in texts),
                   encoding.details_text(fields["details"]).encode()]
    else:
        values += [None] * (COLUMNS - 5)
    return struct.pack(">h", COLUMNS) + b"".join(_field(v) for v in values)


def copy_messages(rows: list[bytes]) -> list[bytes]:
    """CopyData messages: the header with the first row, one row each, the trailer."""
    header = SIGNATURE + struct.pack(">ii", 0, 0)
    first = header + (rows[0] if rows else b"")
    return [first, *rows[1:], struct.pack(">h", -1)]


def copy_input(messages: list[bytes]) -> bytes:
    return b"\x00" + b"".join(struct.pack(">I", len(m)) + m for m in messages)


def sqlite_input(data: bytes) -> bytes:
    return b"\x01" + data


def write_corpus(folder: Path) -> None:
    """The seeds kept in ``corpus/`` (regenerate with ``python -m tests.audit.fuzz.inputs``):
    valid streams of both versions, one over-long, one with a bad hash, and a small SQLite
    log (512-byte pages, to keep it small)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [copy_row(i, body=i % 2 == 0) for i in range(4)]
    seeds = {
        "copy-v3": copy_messages(rows),
        "copy-v2": copy_messages([copy_row(i, body=True, version=2) for i in range(4)]),
        "copy-overlong": copy_messages([copy_row(i) for i in range(7)]),
        "copy-bad-length": copy_messages([rows[0], rows[1][:-1] + b"\x00", *rows[2:]]),
        "copy-bad-hash": copy_messages([rows[0], copy_row(1, leaf_hash=bytes(32)), *rows[2:]]),
    }
    for name, messages in seeds.items():
        (folder / name).write_bytes(copy_input(messages))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        _small_log(path)
        (folder / "sqlite-log").write_bytes(sqlite_input(path.read_bytes()))


def _small_log(path: Path) -> None:
    from sqlmodel import SQLModel

    from spe.crypto.signing import SigningKey
    from spe.db import make_engine
    from tests.audit.conftest import audit_tables
    from tests.audit.factories import build_log

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size = 512")
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    build_log(engine, SigningKey.load_or_create(path.with_suffix(".pem")), 4)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")


if __name__ == "__main__":
    write_corpus(Path(__file__).with_name("corpus"))
