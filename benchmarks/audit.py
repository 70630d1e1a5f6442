"""Audit log performance, each figure beside a baseline measured in the same run.

    python -m benchmarks.audit [--events N] [--proof-events M]

- append throughput with durable commits (SQLite ``synchronous=FULL``; PostgreSQL with
  ``fsync=on``), one event per transaction and batches of 100 (``record_many``), against
  plain inserts of the same rows without hashing or sequencing;
- full verification of an N-event log against reading the same rows;
- on PostgreSQL, a log of M events bulk-loaded with COPY (tree nodes computed in bulk):
  inclusion proof latency and auditor search (project + 7-day window) p95, against a
  primary-key lookup.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text
from sqlmodel import Session, SQLModel

from spe.audit import Actor, draft, encoding, merkle, record, record_many, service
from spe.audit import checkpoints as cps
from spe.audit.models import AuditEvent
from spe.audit.verify import database_records, verify_database
from spe.crypto.signing import SigningKey
from spe.db import make_engine
from tests.servers.postgres import running_postgres

BATCH = 100
PLAIN = Table("bench_plain", MetaData(), Column("id", Integer, primary_key=True),
              Column("action", String(100)), Column("actor_id", String(200)),
              Column("project_id", String(200)), Column("details", String(4096)))


def audit_tables():
    return [t for n, t in SQLModel.metadata.tables.items() if n.startswith("audit_")]


def setup(engine) -> None:
    SQLModel.metadata.create_all(engine, tables=audit_tables())
    PLAIN.create(engine)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def show(name: str, value: float, baseline: float, unit: str, higher_is_better=True) -> None:
    ratio = value / baseline if baseline else float("nan")
    print(f"  {name:<44} {value:>12,.1f} {unit:<9} baseline {baseline:>12,.1f} "
          f"{unit:<9} ratio {ratio:5.2f}{'' if higher_is_better else ' (lower is better)'}")


def bench_append(engine, n: int) -> None:
    actor = Actor.user("u-1", "researcher")
    singles = max(50, n // 20)
    t = time.perf_counter()
    with engine.connect() as conn:
        for i in range(singles):
            conn.execute(insert(PLAIN).values(action="bench.event", actor_id="u-1",
                                              project_id="p-1", details=f'{{"i": {i}}}'))
            conn.commit()
    plain_single = rate(singles, time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(singles):
        with Session(engine) as s:
            record(s, action="bench.event", actor=actor, project_id="p-1", details={"i": i})
            s.commit()
    audit_single = rate(singles, time.perf_counter() - t)
    show("one event per transaction", audit_single, plain_single, "events/s")

    t = time.perf_counter()
    with engine.connect() as conn:
        for b in range(0, n, BATCH):
            conn.execute(insert(PLAIN), [{"action": "bench.event", "actor_id": "u-1",
                                          "project_id": "p-1", "details": f'{{"i": {i}}}'}
                                         for i in range(b, b + BATCH)])
            conn.commit()
    plain_batch = rate(n, time.perf_counter() - t)
    t = time.perf_counter()
    for b in range(0, n, BATCH):
        with Session(engine) as s:
            record_many(s, [draft(action="bench.event", actor=actor, project_id="p-1",
                                  details={"i": i}) for i in range(b, b + BATCH)])
            s.commit()
    audit_batch = rate(n, time.perf_counter() - t)
    show(f"batches of {BATCH} (record_many, group commit)", audit_batch, plain_batch,
         "events/s")


def bench_verify(engine, signer: SigningKey) -> None:
    with Session(engine) as s:
        cps.create_checkpoint(s, signer)
        s.commit()
    with Session(engine) as s:
        t = time.perf_counter()
        count = sum(1 for _ in database_records(s))
        read = rate(count, time.perf_counter() - t)
    with Session(engine) as s:
        t = time.perf_counter()
        report = verify_database(s, signer.public_key, datetime.now(UTC) - timedelta(days=366))
        verified = rate(report.size, time.perf_counter() - t)
    show(f"full verification ({report.size:,} events)", verified, read, "events/s")


def bulk_load(server, database: str, n: int, signer: SigningKey) -> tuple[int, int]:
    """Load ``n`` events over a year, 100 projects, with COPY; returns (size, seconds)."""
    import psycopg

    start = datetime(2025, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / n
    conninfo = f"host={server.host} port={server.port} user=postgres dbname={database}"
    frontier: list[bytes] = []
    t = time.perf_counter()
    leaves, nodes = [], []
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy("COPY audit_event (seq, ts, actor_type, actor_id, actor_role, action, "
                      "target_type, target_id, project_id, outcome, request_id, trace_id, "
                      "client_addr, details, salt) FROM STDIN") as copy:
            for seq in range(n):
                ts = start + step * seq
                fields = {"seq": seq, "ts": ts, "actor_type": "user",
                          "actor_id": f"u-{seq % 1000}", "actor_role": "researcher",
                          "action": "workspace.login", "target_type": "server",
                          "target_id": f"s-{seq % 50}", "project_id": f"p-{seq % 100}",
                          "outcome": "success", "request_id": f"r{seq}", "trace_id": None,
                          "client_addr": "10.0.0.1", "details": {"i": seq}}
                salt = os.urandom(encoding.SALT_BYTES)
                commit = encoding.commitment(salt, encoding.body_bytes(fields))
                leaf = merkle.leaf_hash(encoding.leaf_bytes(seq, ts, commit))
                frontier, created = merkle.append(frontier, seq, leaf)
                nodes.extend(created)
                leaves.append((seq, 1, ts, commit, leaf))
                copy.write_row((seq, ts, "user", fields["actor_id"], "researcher",
                                "workspace.login", "server", fields["target_id"],
                                fields["project_id"], "success", f"r{seq}", None, "10.0.0.1",
                                f'{{"i": {seq}}}', salt))
        with cur.copy("COPY audit_leaf (seq, version, ts, commitment, leaf_hash) "
                      "FROM STDIN") as copy:
            for row in leaves:
                copy.write_row(row)
        with cur.copy("COPY audit_node (level, index, hash) FROM STDIN") as copy:
            for row in nodes:
                copy.write_row(row)
        cur.execute("UPDATE audit_head SET size = %s, frontier = %s WHERE id = 1",
                    (n, b"".join(frontier)))
        cur.execute("INSERT INTO audit_head (id, size, frontier) SELECT 1, %s, %s "
                    "WHERE NOT EXISTS (SELECT 1 FROM audit_head)", (n, b"".join(frontier)))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    return n, time.perf_counter() - t


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def bench_queries(engine, n: int, signer: SigningKey) -> None:
    rng = random.Random(7)
    with Session(engine) as s:
        cps.create_checkpoint(s, signer)
        s.commit()
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
            since = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(358))
            flt = service.EventFilter(project_id=f"p-{rng.randrange(100)}", since=since,
                                      until=since + timedelta(days=7))
            t = time.perf_counter()
            service.search(s, flt, limit=50)
            searches.append((time.perf_counter() - t) * 1000)
            s.expunge_all()
    base = p95(lookups)
    show(f"inclusion proof p95 ({n:,} events)", p95(proofs), base, "ms", False)
    show(f"search project+7 days p95 ({n:,} events)", p95(searches), base, "ms", False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--proof-events", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        signer = SigningKey.load_or_create(Path(tmp) / "key.pem")
        print(f"SQLite (WAL, synchronous=FULL), {args.events:,} events")
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        setup(engine)
        bench_append(engine, args.events)
        bench_verify(engine, signer)
        engine.dispose()
        with running_postgres(durable=True) as server:
            print(f"PostgreSQL (fsync=on, synchronous_commit=on), {args.events:,} events")
            engine = make_engine(server.url(server.create_database("bench")))
            setup(engine)
            with engine.connect() as conn:
                assert conn.execute(text("SHOW fsync")).scalar() == "on"
            bench_append(engine, args.events)
            bench_verify(engine, signer)
            engine.dispose()
            database = server.create_database("big")
            engine = make_engine(server.url(database))
            SQLModel.metadata.create_all(engine, tables=audit_tables())
            size, seconds = bulk_load(server, database, args.proof_events, signer)
            print(f"PostgreSQL, {size:,} events bulk-loaded with COPY in {seconds:,.0f} s "
                  f"({rate(size, seconds):,.0f} events/s)")
            bench_queries(engine, size, signer)
            engine.dispose()


if __name__ == "__main__":
    main()
