"""Audit log performance, each figure beside a baseline measured in the same run.

    python -m benchmarks.audit [--events N] [--verify-events V] [--proof-events M ...]
                               [--databases sqlite postgres]

- append throughput with durable commits (SQLite ``synchronous=FULL``; PostgreSQL with
  ``fsync=on``), one event per transaction and batches of 100 (``record_many``), against
  plain inserts of the same rows without hashing or sequencing;
- full verification of a V-event log, with one worker and one per core, by the compiled
  verifier against reading the same rows in C without checks, and by the Python verifier
  against its own reader without checks; then compiled against Python;
- on PostgreSQL, logs of each size M, generated in a stream and loaded with COPY in chunks
  (memory stays bounded; each size extends the previous log): inclusion proof latency and
  auditor search (project + 7-day window) p95, against a primary-key lookup of one event.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlmodel import Session, SQLModel

from spe.audit import Actor, draft, encoding, merkle, record, record_many, service
from spe.audit import checkpoints as cps
from spe.audit.models import AuditCheckpoint, AuditEvent
from spe.audit.scan import Source, native_queries
from spe.audit.verify import verify_database
from spe.crypto.signing import SigningKey
from spe.db import make_engine
from testsupport.postgres import running_postgres

BATCH = 100
LOAD_CHUNK = 50_000
YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
PLAIN = Table("bench_plain", MetaData(), Column("id", Integer, primary_key=True),
              Column("action", String(100)), Column("actor_id", String(200)),
              Column("project_id", String(200)), Column("details", String(4096)))
EVENT_COLUMNS = ("seq", "ts", "actor_type", "actor_id", "actor_role", "action", "target_type",
                 "target_id", "project_id", "outcome", "request_id", "trace_id", "client_addr",
                 "details", "salt")


def audit_tables():
    return [t for n, t in SQLModel.metadata.tables.items() if n.startswith("audit_")]


def secondary_indexes():
    return [ix for t in audit_tables() for ix in t.indexes]


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def show(name: str, value: float, baseline: float, unit: str, higher_is_better=True) -> None:
    ratio = value / baseline if baseline else float("nan")
    print(f"  {name:<48} {value:>12,.1f} {unit:<9} baseline {baseline:>12,.1f} "
          f"{unit:<9} ratio {ratio:5.2f}{'' if higher_is_better else ' (lower is better)'}",
          flush=True)


# --- appends ------------------------------------------------------------------------------

def bench_append(engine, n: int) -> None:
    PLAIN.create(engine)
    actor = Actor.user("u-1", "researcher")
    singles = max(50, n // 20)
    t = time.perf_counter()
    with engine.connect() as conn:
        for i in range(singles):
            conn.execute(insert(PLAIN).values(action="bench.event", actor_id="u-1",
                                              project_id="p-1", details=f'{{"i":{i}}}'))
            conn.commit()
    plain_single = rate(singles, time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(singles):
        with Session(engine) as s:
            record(s, action="bench.event", actor=actor, project_id="p-1", details={"i": i})
            s.commit()
    show("one event per transaction", rate(singles, time.perf_counter() - t), plain_single,
         "events/s")

    t = time.perf_counter()
    with engine.connect() as conn:
        for b in range(0, n, BATCH):
            conn.execute(insert(PLAIN), [{"action": "bench.event", "actor_id": "u-1",
                                          "project_id": "p-1", "details": f'{{"i":{i}}}'}
                                         for i in range(b, b + BATCH)])
            conn.commit()
    plain_batch = rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    for b in range(0, n, BATCH):
        with Session(engine) as s:
            record_many(s, [draft(action="bench.event", actor=actor, project_id="p-1",
                                  details={"i": i}) for i in range(b, b + BATCH)])
            s.commit()
    show(f"batches of {BATCH} (record_many, group commit)", rate(n, time.perf_counter() - t),
         plain_batch, "events/s")


# --- a synthetic log, generated in a stream -----------------------------------------------

class Generator:
    """Events spread over a year (``total`` of them), 100 projects, 1000 users; keeps the
    frontier so a log can be extended chunk by chunk."""

    def __init__(self, total: int) -> None:
        self.step = timedelta(days=365) / total
        self.size = 0
        self.frontier: list[bytes] = []

    def chunk(self, count: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
        events, leaves, nodes = [], [], []
        for seq in range(self.size, self.size + count):
            ts = YEAR_START + self.step * seq
            stamp = encoding.format_ts(ts)
            fields = {"seq": seq, "ts": stamp, "actor_type": "user",
                      "actor_id": f"u-{seq % 1000}", "actor_role": "researcher",
                      "action": "workspace.login", "target_type": "server",
                      "target_id": f"s-{seq % 50}", "project_id": f"p-{seq % 100}",
                      "outcome": "success", "request_id": f"r{seq}", "trace_id": None,
                      "client_addr": "10.0.0.1", "details": {"i": seq}}
            salt = os.urandom(encoding.SALT_BYTES)
            commit = encoding.commitment(salt, encoding.body_bytes(fields))
            leaf = merkle.leaf_hash(encoding.leaf_bytes(seq, stamp, commit))
            self.frontier, created = merkle.append(self.frontier, seq, leaf)
            nodes += created
            leaves.append((seq, encoding.VERSION, ts, commit, leaf))
            events.append((seq, ts, "user", fields["actor_id"], "researcher",
                           "workspace.login", "server", fields["target_id"],
                           fields["project_id"], "success", fields["request_id"], None,
                           "10.0.0.1", encoding.details_text(fields["details"]), salt))
        self.size += count
        return events, leaves, nodes


def load_postgres(server, database: str, gen: Generator, until: int) -> float:
    """Extend the log to ``until`` events with COPY, secondary indexes rebuilt after."""
    import psycopg

    conninfo = f"host={server.host} port={server.port} user=postgres dbname={database}"
    t = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for ix in secondary_indexes():
            cur.execute(f'DROP INDEX IF EXISTS "{ix.name}"')
        while gen.size < until:
            events, leaves, nodes = gen.chunk(min(LOAD_CHUNK, until - gen.size))
            for table, columns, rows in (
                    ("audit_event", EVENT_COLUMNS, events),
                    ("audit_leaf", ("seq", "version", "ts", "commitment", "leaf_hash"), leaves),
                    ("audit_node", ("level", '"index"', "hash"), nodes)):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        _set_head(cur, gen)
        conn.commit()
    engine = make_engine(server.url(database))
    for ix in secondary_indexes():
        ix.create(engine)
    engine.dispose()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - t


def load_sqlite(path: Path, gen: Generator, until: int) -> None:
    conn = sqlite3.connect(path)
    marks = ", ".join("?" * len(EVENT_COLUMNS))
    while gen.size < until:
        events, leaves, nodes = gen.chunk(min(LOAD_CHUNK, until - gen.size))
        stored = [(e[0], e[1].strftime("%Y-%m-%d %H:%M:%S.%f"), *e[2:]) for e in events]
        conn.executemany(f"INSERT INTO audit_event VALUES ({marks})", stored)  # noqa: S608
        conn.executemany("INSERT INTO audit_leaf VALUES (?, ?, ?, ?, ?)",
                         [(seq, v, s[1], c, h) for (seq, v, _, c, h), s in zip(leaves, stored,
                                                                                strict=True)])
        conn.executemany('INSERT INTO audit_node (level, "index", hash) VALUES (?, ?, ?)',
                         nodes)
    _set_head(conn.cursor(), gen, "?")
    conn.commit()
    conn.close()


def _set_head(cur, gen: Generator, mark: str = "%s") -> None:
    cur.execute("DELETE FROM audit_head")
    cur.execute(f"INSERT INTO audit_head (id, size, frontier) VALUES (1, {mark}, {mark})",  # noqa: S608
                (gen.size, b"".join(gen.frontier)))


# --- verification, proofs, search -----------------------------------------------------------

def server_cpu(engine):
    """Seconds of CPU used so far by PostgreSQL's backends, ended ones included (Linux
    /proc: the postmaster's children), or None on SQLite."""
    if engine.url.get_backend_name() != "postgresql":
        return None
    with engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    postmaster = int(_stat(backend)[1])
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        own = _stat(postmaster)
        total = int(own[13]) + int(own[14])  # waited-for children
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fields = _stat(int(pid))
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])
        return total / tick

    return used


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, …"""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def read_without_checks(engine) -> float:
    """Events/s reading the rows the compiled verifier reads, in C, checking nothing:
    SQLite aggregates every value of its query; PostgreSQL streams the same ``COPY`` to
    ``psql``, which discards it."""
    source = Source.of(engine)
    leaves, _ = native_queries(source.dialect, 0, 2**62)
    t = time.perf_counter()
    if source.dialect == "sqlite":
        columns = leaves[len("SELECT "):leaves.index(" FROM ")].split(", ")
        total = " + ".join(f"coalesce(length({c}), 0)" for c in columns)
        with closing(sqlite3.connect(f"file:{source.target}?mode=ro", uri=True)) as conn:
            count = conn.execute(f"SELECT count(*), sum({total}) "  # noqa: S608 (constant)
                                 f"{leaves[leaves.index(' FROM '):]}", (0, 2**62)).fetchone()[0]
    else:
        url = engine.url
        env = {**os.environ, "PGHOST": url.host, "PGPORT": str(url.port),
               "PGUSER": url.username, "PGDATABASE": url.database,
               "PGPASSWORD": url.password or ""}
        subprocess.run(["psql", "-qAt", "-c", leaves], env=env, stdout=subprocess.DEVNULL,
                       check=True)
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM audit_leaf")).scalar()
    return rate(count, time.perf_counter() - t)


def read_in_python(engine) -> tuple[float, float]:
    """Events/s and CPU µs per event of the Python verifier's own reader, checking nothing."""
    t, cpu = time.perf_counter(), time.process_time()
    with closing(Source.of(engine).open()) as reader:
        count = sum(len(rows) for rows in reader.leaves(0, 2**62, 1 << 14))
    return rate(count, time.perf_counter() - t), (time.process_time() - cpu) / count * 1e6


def sign_head(engine, signer: SigningKey) -> None:
    """A checkpoint of the generated log, signed directly: ``create_checkpoint`` would first
    verify every leaf added since the last one in Python, which is not what is measured."""
    with Session(engine) as s:
        size, root = cps.head(s)
        if s.get(AuditCheckpoint, size) is None:
            ts = datetime.now(UTC)
            s.add(AuditCheckpoint(tree_size=size, root_hash=root, ts=ts, key_id=signer.key_id,
                                  signature=signer.sign(encoding.checkpoint_bytes(
                                      size, root, encoding.format_ts(ts), signer.key_id))))
            s.commit()


def bench_verify(engine, signer: SigningKey) -> None:
    sign_head(engine, signer)
    cutoff = datetime.now(UTC) - timedelta(days=366)
    server = server_cpu(engine)
    cores = os.cpu_count() or 1
    results = {}
    for compiled in (True, False):
        baseline = read_without_checks(engine) if compiled else read_in_python(engine)[0]
        name = "compiled" if compiled else "Python"
        for workers in sorted({1, cores}):
            with Session(engine) as s:
                t, cpu = time.perf_counter(), time.process_time()
                before = server() if server else 0.0
                report = verify_database(s, signer.public_key, cutoff, workers=workers,
                                         compiled=compiled)
                seconds = time.perf_counter() - t
                verify_cpu = (time.process_time() - cpu) / report.size * 1e6
                server_us = ((server() - before) / report.size * 1e6) if server else 0.0
            results[compiled, workers] = rate(report.size, seconds)
            show(f"full verification, {name}, {workers} worker(s) ({report.size:,})",
                 results[compiled, workers], baseline, "events/s")
            if workers == 1:  # the machine is shared: CPU time is the steadier figure
                print(f"  {'  CPU per event: verifier':<48} {verify_cpu:>12.2f} µs"
                      + (f"   database server {server_us:.2f} µs" if server else ""),
                      flush=True)
    for workers in sorted({1, cores}):
        show(f"compiled against Python, {workers} worker(s)", results[True, workers],
             results[False, workers], "events/s")


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def bench_queries(engine, n: int, signer: SigningKey) -> None:
    rng = random.Random(7)
    sign_head(engine, signer)
    lookups, proofs, searches = [], [], []
    with Session(engine) as s:
        for _ in range(300):
            seq = rng.randrange(n)
            t = time.perf_counter()
            s.get(AuditEvent, seq)
            lookups.append((time.perf_counter() - t) * 1000)
            s.expunge_all()
            t = time.perf_counter()
            service.inclusion(s, seq)
            proofs.append((time.perf_counter() - t) * 1000)
            since = YEAR_START + timedelta(days=rng.randrange(358))
            flt = service.EventFilter(project_id=f"p-{rng.randrange(100)}", since=since,
                                      until=since + timedelta(days=7))
            t = time.perf_counter()
            service.search(s, flt, limit=50)
            searches.append((time.perf_counter() - t) * 1000)
            s.expunge_all()
    base = p95(lookups)
    show(f"inclusion proof p95 ({n:,} events)", p95(proofs), base, "ms", False)
    show(f"search project+7 days p95 ({n:,} events)", p95(searches), base, "ms", False)


# --- the run ------------------------------------------------------------------------------

def run_sqlite(tmp: Path, args, signer: SigningKey) -> None:
    print(f"SQLite (WAL, synchronous=FULL), {args.events:,} events appended", flush=True)
    engine = make_engine(f"sqlite:///{tmp}/append.db")
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    bench_append(engine, args.events)
    engine.dispose()
    path = tmp / "verify.db"
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    load_sqlite(path, Generator(args.verify_events), args.verify_events)
    print(f"SQLite, a generated log of {args.verify_events:,} events", flush=True)
    bench_verify(engine, signer)
    engine.dispose()


def run_postgres(args, signer: SigningKey) -> None:
    with running_postgres(durable=True) as server:
        print(f"PostgreSQL (fsync=on, synchronous_commit=on), {args.events:,} events appended",
              flush=True)
        engine = make_engine(server.url(server.create_database("bench")))
        SQLModel.metadata.create_all(engine, tables=audit_tables())
        with engine.connect() as conn:
            assert conn.execute(text("SHOW fsync")).scalar() == "on"
        bench_append(engine, args.events)
        engine.dispose()
        database = server.create_database("big")
        engine = make_engine(server.url(database))
        SQLModel.metadata.create_all(engine, tables=audit_tables())
        sizes = sorted({args.verify_events, *args.proof_events})
        gen = Generator(sizes[-1])
        for size in sizes:
            seconds = load_postgres(server, database, gen, size)
            print(f"PostgreSQL, log extended to {size:,} events with COPY in {seconds:,.0f} s "
                  f"(indexes rebuilt, VACUUM ANALYZE)", flush=True)
            if size == args.verify_events:
                bench_verify(engine, signer)
            if size in args.proof_events:
                bench_queries(engine, size, signer)
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="appended, per database")
    parser.add_argument("--verify-events", type=int, default=1_000_000)
    parser.add_argument("--proof-events", type=int, nargs="+",
                        default=[1_000_000, 4_000_000])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgres"],
                        default=["sqlite", "postgres"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        signer = SigningKey.load_or_create(Path(tmp) / "key.pem")
        if "sqlite" in args.databases:
            run_sqlite(Path(tmp), args, signer)
        if "postgres" in args.databases:
            run_postgres(args, signer)


if __name__ == "__main__":
    main()
