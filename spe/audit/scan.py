"""Reading the log fast for verification: raw DB-API rows in the shape the verifier hashes.

A verifier in Python pays per value it touches, so each leaf comes as one row of seven:
``(seq, version, ts, commitment, leaf_hash, salt, body)``, ``ts`` the RFC 3339 text as bytes
and ``body`` the event in the canonical encoding (docs/audit.md, version 2), or None once
purged.

- PostgreSQL builds the body with a plain SQL expression over the stored columns (lengths
  with ``int4send``, values with ``convert_to``), so the server process serialises while the
  verifier hashes. Nothing is taken on trust that reading the columns would not also take:
  an edited column changes what the expression yields.
- SQLite evaluates such expressions slower than Python packs them, so its reader fetches the
  columns (text as bytes) and packs the body with :func:`spe.audit.encoding.encode_body`.

Tests check that both agree byte for byte with :func:`spe.audit.encoding.body_bytes`. Each
:class:`Source` opens its own connection (read-only), so verification can run in several
processes at once. :func:`native_queries` are the compiled verifier's (stored columns, no
expressions: it packs the bodies itself).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import URL, Engine

from spe.audit.encoding import BODY_FIELDS, VERSION, VERSIONS, encode_body
from spe.threads import read_ahead


@dataclass(frozen=True)
class Malformed:
    """In place of the body of a row the reader could not use: ``column`` holds a value of
    the wrong type (SQLite columns take any type; only an edit can put one there)."""

    column: str


Row = tuple[int, int, bytes, bytes, bytes, bytes | None, bytes | Malformed | None]
VALUE_COLUMNS = ", ".join(f"e.{name}" for name in BODY_FIELDS[2:])
NODES = ('SELECT "index", hash FROM audit_node WHERE level = {} AND "index" >= {} '
         'AND "index" < {} ORDER BY "index"')
SQLITE_LEAVES = (
    f"SELECT l.seq, l.version, l.ts, l.commitment, l.leaf_hash, e.salt, e.ts, {VALUE_COLUMNS} "  # noqa: S608 (constant names only)
    "FROM audit_leaf l LEFT JOIN audit_event e ON e.seq = l.seq "
    "WHERE l.seq >= ? AND l.seq < ? ORDER BY l.seq")


class UnsupportedDatabase(ValueError):
    """A database the fast reader cannot verify (neither SQLite nor UTF-8 PostgreSQL)."""


LOCAL_HOSTS = ("localhost", "::1")


def _local(host: str) -> bool:
    return host.startswith(("/", "@", "127.")) or host in LOCAL_HOSTS


def require_verified_tls(url: URL) -> URL:
    """``url`` with ``sslmode=verify-full`` unless every host is a Unix socket or loopback:
    the verifier checks the database, so it must not take a server it cannot authenticate
    (libpq's default ``prefer`` even falls back to plain text for a man in the middle).
    A weaker ``sslmode`` for a remote host is refused, not overridden."""
    values = [url.host, url.query.get("host"), url.query.get("hostaddr")]
    items = [i for v in values for i in (v if isinstance(v, tuple) else (v,)) if i]
    hosts = [h for item in items for h in item.split(",") if h]
    if all(_local(h) for h in hosts):  # no host at all: libpq's default Unix socket
        return url
    mode = url.query.get("sslmode", "verify-full")
    if mode != "verify-full":
        raise UnsupportedDatabase(f"refusing to read the audit log from a remote PostgreSQL "
                                  f"server with sslmode={mode}: use sslmode=verify-full")
    return url.update_query_dict({"sslmode": "verify-full"})


def _pg_leaves() -> str:
    # details as ::text: a json column (stored text kept verbatim) reads the same as text
    values = ["et.ts", *(f"e.{name}" for name in BODY_FIELDS[2:-1]), "e.details::text"]
    lengths = " || ".join(f"coalesce(int4send(octet_length({v})), '\\xffffffff'::bytea)"
                          for v in values)
    data = " || ".join(f"coalesce(convert_to({v}, 'UTF8'), ''::bytea)" for v in values)
    ts = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    return (f"SELECT l.seq, l.version, {ts.format('l.ts')}, l.commitment, l.leaf_hash, "  # noqa: S608
            "e.salt, CASE WHEN e.seq IS NULL THEN NULL "
            "ELSE substring(int2send(l.version) from 2) || "
            f"int8send(e.seq) || {lengths} || {data} END "
            "FROM audit_leaf l LEFT JOIN audit_event e ON e.seq = l.seq "
            f"CROSS JOIN LATERAL (SELECT {ts.format('e.ts')} AS ts) et "
            "WHERE l.seq >= %s AND l.seq < %s ORDER BY l.seq")


PG_LEAVES = _pg_leaves()
# The compiled verifier (spe/audit/_native.c) reads the columns as stored, in this order.
NATIVE_COLUMNS = (f"l.seq, l.version, l.ts, l.commitment, l.leaf_hash, e.seq, e.salt, e.ts, "
                  f"{VALUE_COLUMNS.replace('e.details', 'e.details{cast}')}")
NATIVE_FROM = ("FROM audit_leaf l LEFT JOIN audit_event e ON e.seq = l.seq "
               "WHERE l.seq >= {start} AND l.seq < {end} ORDER BY l.seq")


def native_queries(dialect: str, start: int, end: int) -> tuple[str, str]:
    """The leaves and subtree-hash queries :mod:`spe.audit.native` hands the compiled
    verifier: SQLite's with parameters, PostgreSQL's leaves as ``COPY … (FORMAT binary)``,
    which takes none (``start`` and ``end`` are integers)."""
    if dialect == "sqlite":
        return (f"SELECT {NATIVE_COLUMNS.format(cast='')} "
                f"{NATIVE_FROM.format(start='?', end='?')}", NODES.format("?", "?", "?"))
    select = (f"SELECT {NATIVE_COLUMNS.format(cast='::text')} "
              f"{NATIVE_FROM.format(start=int(start), end=int(end))}")
    return f"COPY ({select}) TO STDOUT (FORMAT binary)", NODES.format("$1", "$2", "$3")


def rfc3339(stored: bytes) -> bytes:
    """SQLite's stored ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC) as RFC 3339."""
    return stored[:10] + b"T" + stored[11:] + b"Z"


@dataclass(frozen=True)
class Source:
    """Where to read the log: ``dialect`` ``sqlite`` (a file path) or ``postgresql`` (a
    libpq connection string). Picklable, for worker processes."""

    dialect: str
    target: str

    @classmethod
    def of(cls, engine: Engine) -> Source:
        url = engine.url
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                raise UnsupportedDatabase("verification reads a SQLite file, not :memory:")
            return cls("sqlite", str(Path(url.database).resolve()))
        if url.get_backend_name() == "postgresql":
            url = require_verified_tls(url.set(drivername="postgresql"))
            return cls("postgresql", url.render_as_string(hide_password=False))
        raise UnsupportedDatabase(f"cannot verify an audit log in {url.get_backend_name()}")

    def open(self) -> Reader:
        return SqliteReader(self.target) if self.dialect == "sqlite" else PgReader(self.target)

    @contextmanager
    def batches(self, start: int, end: int, batch: int) -> Iterator[Iterator[list[Row]]]:
        """The leaf rows of ``[start, end)`` on a connection of their own. PostgreSQL's are
        read ahead by a thread (:func:`spe.threads.read_ahead`: the server serialises
        the next batch while the caller hashes this one); SQLite's are not, as that gained
        nothing when measured: its reader packs the bodies in Python, under the GIL the
        hashing needs too."""
        if self.dialect == "postgresql":
            rows = read_ahead(self._leaves(start, end, batch), name="audit-read-ahead")
            try:
                yield rows
            finally:
                rows.close()  # stops the thread
        else:
            with closing(self.open()) as reader:
                yield reader.leaves(start, end, batch)


    def _leaves(self, start: int, end: int, batch: int) -> Iterator[list[Row]]:
        with closing(self.open()) as reader:
            yield from reader.leaves(start, end, batch)


class Reader(Protocol):
    """A connection that yields leaf rows in batches and stored subtree hashes."""

    def leaves(self, start: int, end: int, batch: int) -> Iterator[list[Row]]: ...

    def nodes(self, level: int, lo: int, hi: int) -> list[tuple[int, bytes]]: ...

    def close(self) -> None: ...


class SqliteReader:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True)
        # a file that may have been edited by hand: no mapping, cell sizes checked
        self.conn.executescript("PRAGMA mmap_size = 0; PRAGMA cell_size_check = ON; "
                                "PRAGMA query_only = ON")
        self.conn.text_factory = bytes

    def leaves(self, start: int, end: int, batch: int) -> Iterator[list[Row]]:
        cursor = self.conn.execute(SQLITE_LEAVES, (start, end))
        while rows := cursor.fetchmany(batch):
            try:
                packed = [(seq, version, rfc3339(ts), commitment, leaf_hash, salt,
                           None if salt is None else
                           encode_body(seq, (rfc3339(ets), *values), _body_version(version)))
                          for seq, version, ts, commitment, leaf_hash, salt, ets, *values
                          in rows]
            except TypeError:  # a value of the wrong type: find it, row by row
                packed = [_checked_row(row) for row in rows]
            yield packed

    def nodes(self, level: int, lo: int, hi: int) -> list[tuple[int, bytes]]:
        return self.conn.execute(NODES.format("?", "?", "?"), (level, lo, hi)).fetchall()

    def close(self) -> None:
        self.conn.close()


NULLABLE_BYTES = (bytes, type(None))
ROW_TYPES = (("seq", int), ("version", int), ("ts", bytes), ("commitment", bytes),
             ("leaf_hash", object), ("salt", NULLABLE_BYTES))
"""What each value of a :data:`Row` must be; ``leaf_hash`` is only compared, so any other
value is merely unequal (as in the compiled verifier)."""
SQLITE_TYPES = (*ROW_TYPES, ("event ts", NULLABLE_BYTES),
                *((name, NULLABLE_BYTES) for name in BODY_FIELDS[2:]))


def _checked_row(row: tuple) -> Row:
    """One SQLite row as :meth:`SqliteReader.leaves` makes it, with the body replaced by
    :class:`Malformed` if a value has the wrong type (:data:`SQLITE_TYPES`)."""
    bad = next((name for (name, kind), value in zip(SQLITE_TYPES, row, strict=True)
                if not isinstance(value, kind)), None)
    seq, version, ts, commitment, leaf_hash, salt, ets, *values = row
    if bad is not None:
        return seq, version, ts, commitment, leaf_hash, salt, Malformed(bad)
    return (seq, version, rfc3339(ts), commitment, leaf_hash, salt,
            None if salt is None else
            encode_body(seq, (rfc3339(ets), *values), _body_version(version)))


def _body_version(version: object) -> int:
    """The body's version byte: its leaf's, or any known one for a leaf whose version is
    not (the checks refuse that leaf before they look at its body)."""
    return version if version in VERSIONS and type(version) is int else VERSION


class PgReader:
    def __init__(self, dsn: str) -> None:
        import psycopg
        from psycopg.types.string import ByteaBinaryLoader

        self.conn = psycopg.connect(dsn)
        self.conn.read_only = True
        encoding = self.conn.execute("SHOW server_encoding").fetchone()[0]
        if encoding != "UTF8":
            self.conn.close()
            raise UnsupportedDatabase(f"the audit database is {encoding}, not UTF8: bodies "
                                      "would not serialise as they were committed")
        self.conn.adapters.register_loader("text", ByteaBinaryLoader)  # text as raw bytes

    def leaves(self, start: int, end: int, batch: int) -> Iterator[list[Row]]:
        with self.conn.cursor(name="audit_leaves", binary=True) as cursor:
            cursor.itersize = batch
            cursor.execute(PG_LEAVES, (start, end))
            while rows := cursor.fetchmany(batch):
                yield rows

    def nodes(self, level: int, lo: int, hi: int) -> list[tuple[int, bytes]]:
        return self.conn.execute(NODES.format("%s", "%s", "%s"), (level, lo, hi)).fetchall()

    def close(self) -> None:
        self.conn.close()
