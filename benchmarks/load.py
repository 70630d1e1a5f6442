"""Load: virtual users on the API over HTTP, on SQLite and on PostgreSQL as the app role.

    python -m benchmarks.load                       # 50 users x 5 minutes, both databases
    python -m benchmarks.load --short               # 10 users x 20 s (a smoke run)
    python -m benchmarks.load --users 30 --duration 60 --databases postgres
    python -m benchmarks.load --think 0             # no pauses: a saturation test

The API runs under uvicorn in its own processes, on a fresh database: SQLite in a temporary
data folder, served by one worker as the embedded platform is; or PostgreSQL set up as
docs/production.md prescribes (migrated by the owner, served as the application role; fsync
on), served by two workers as the chart's two API replicas (``--workers``). Each virtual
user pauses between two requests as a person does (exponential, 1 s on average:
``--think``); without pauses the run measures saturation, where every latency is the number
of users over the throughput. A warm-up of a tenth of the run (at most 15 s, not timed, its
state changes checked like the others) lets every worker import what its first submission
needs. Then the baseline: the same users call a bare FastAPI route of the same processes
that runs ``SELECT 1`` on the same engine, for a fifth of the time. Then the mixed
workload, each user on its own project: list permits or projects (30 %), search the audit
log (15 %), create a personal token (10 %), change its permit (25 %: suspend, resume, amend,
in the order the state machine allows), submit an egress request of one small CSV as the
project's researcher (10 %), and vote on a file of its requests as one of two independent
output checkers (10 %; a submission when no file awaits a vote). A suspended permit refuses
submissions: the user then resumes it.

Printed per database: requests per second, p50/p95/p99 per kind and overall, beside the
baseline's; errors (any answer but the expected one, or a transport error); lost events
(acknowledged state changes without their audit event, matched by request id); and the
audit log's verification after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import bindparam, text
from sqlmodel import Session

from spe import migrations
from spe.db import make_engine
from spe.domain.roles import Role
from testsupport.factories import make_dataset, make_user, permit_body

HERE = Path(__file__).resolve().parent.parent


# -- the server process ---------------------------------------------------------------------

def bench_app():
    """The API with a bare route beside it, for uvicorn's workers (one per process)."""
    from sqlalchemy import text as sql

    from spe.settings import Settings
    from spe.web import create_app

    engine = make_engine(os.environ["SPE_BENCH_DATABASE_URL"])
    app = create_app(Settings(data_dir=os.environ["SPE_DATA_DIR"]), engine)

    @app.get("/bench/bare", include_in_schema=False)
    def bare() -> dict:
        with engine.connect() as conn:
            return {"one": conn.execute(sql("SELECT 1")).scalar()}

    return app


def serve(port: int, workers: int) -> None:
    import uvicorn

    # keep-alive longer than the client's, so the server never closes a connection the
    # client is about to reuse (an httpx ReadError, not an answer of the API)
    uvicorn.run("benchmarks.load:bench_app", factory=True, workers=workers, host="127.0.0.1",
                port=port, log_level="warning", access_log=False, timeout_keep_alive=30)


def start_server(url: str, data_dir: str, workers: int) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(HERE), "SPE_DATA_DIR": data_dir,
           "SPE_BENCH_DATABASE_URL": url}
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.load", "--serve", str(port),
                                str(workers)], env=env, cwd=HERE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the API did not start")


# -- virtual users --------------------------------------------------------------------------

class Tally:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.acknowledged: list[str] = []  # request ids of state changes answered 2xx


async def call(client, tally: Tally, kind: str, method: str, path: str, token: str,
               expect: int, changes: bool = False, **kwargs) -> httpx.Response | None:
    rid = f"load-{uuid.uuid4().hex}"
    started = time.perf_counter()
    try:
        response = await client.request(method, path, headers={
            "Authorization": f"Bearer {token}", "X-Request-ID": rid}, **kwargs)
    except httpx.HTTPError as exc:
        tally.errors.append(f"{kind}: {type(exc).__name__}")
        return None
    tally.latency[kind].append(time.perf_counter() - started)
    if response.status_code != expect:
        tally.errors.append(f"{kind}: {response.status_code} {response.text[:120]}")
    elif changes:
        tally.acknowledged.append(rid)
    return response


async def pause(think: float) -> None:
    """A person's pause between two requests: exponential, of mean ``think`` seconds."""
    if think > 0:
        await asyncio.sleep(random.expovariate(1 / think))


async def baseline_user(client, tally: Tally, token: str, until: float, think: float) -> None:
    while time.perf_counter() < until:
        await call(client, tally, "bare", "GET", "/bench/bare", token, 200)
        await pause(think)


CSV = b"region,count\nnorth,120\nsouth,85\n"
DESCRIPTION = "Patients by region, counted from the extract; cells under 11 suppressed"


class VirtualUser:
    """One user's loop on its own project: its permit's state and the files awaiting votes
    (file, the checkers who have not voted yet)."""

    def __init__(self, client, tally: Tally, world: dict, own: dict, think: float) -> None:
        self.client, self.tally, self.world, self.own = client, tally, world, own
        self.think = think
        self.suspended = False
        self.awaiting: list[tuple[dict, list[str]]] = []

    async def run(self, until: float) -> None:
        while time.perf_counter() < until:
            roll = random.random()
            if roll < 0.30:
                await self.read()
            elif roll < 0.45:
                await call(self.client, self.tally, "search", "GET", "/api/v1/audit/events",
                           self.world["auditor"], 200, params={"action": "permit.",
                                                               "limit": 50})
            elif roll < 0.55:
                await call(self.client, self.tally, "token", "POST", "/api/v1/me/tokens",
                           self.world["person"], 201, changes=True,
                           json={"description": "load", "expires_in_hours": 1})
            elif roll < 0.80:
                await self.change_permit()
            elif roll < 0.90 or not self.awaiting:
                await self.submit()
            else:
                await self.vote()
            await pause(self.think)

    async def read(self) -> None:
        path = random.choice(["/api/v1/permits?limit=20", "/api/v1/projects?limit=20"])
        await call(self.client, self.tally, "read", "GET", path, self.world["manager"], 200)

    async def change_permit(self) -> None:
        if self.suspended:
            step, body = "resume", {}
        else:
            step, body = random.choice([("suspend", {"reason": "load"}),
                                        ("amend", {"purpose": uuid.uuid4().hex,
                                                   "reason": "load"})])
        answer = await call(self.client, self.tally, "permit", "POST",
                            f"/api/v1/permits/{self.own['permit']}/{step}",
                            self.world["manager"], 200, changes=True, json=body)
        if answer is not None and answer.status_code == 200:
            self.suspended = step == "suspend"

    async def submit(self) -> None:
        if self.suspended:  # refused while suspended: the permit manager resumes it first
            await self.change_permit()
            return
        answer = await call(self.client, self.tally, "submit", "POST",
                            f"/api/v1/projects/{self.own['project']}/egress-requests",
                            self.own["researcher"], 201, changes=True,
                            data={"title": "Regional counts", "descriptions": [DESCRIPTION]},
                            files=[("files", ("counts.csv", CSV, "text/csv"))])
        if answer is not None and answer.status_code == 201:
            request = answer.json()
            for file in request["files"]:
                self.awaiting.append(({"request": request["id"], **file},
                                      list(self.world["checkers"])))

    async def vote(self) -> None:
        file, checkers = self.awaiting[0]
        answer = await call(self.client, self.tally, "vote", "POST",
                            f"/api/v1/egress/requests/{file['request']}/files/{file['id']}"
                            "/votes", checkers[0], 201, changes=True,
                            json={"decision": "approve", "sha256": file["sha256"]})
        if answer is not None and answer.status_code == 201:
            checkers.pop(0)
            if not checkers:
                self.awaiting.pop(0)


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds so far of process ``pid`` and its children (the server's
    workers), or of this process."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def phase(tally: Tally, server_pid: int, users) -> None:
    """Run ``users`` (coroutines) to their end; note the time and both processes' CPU."""
    started, server, client = time.perf_counter(), cpu_seconds(server_pid), cpu_seconds()
    await asyncio.gather(*users)
    tally.elapsed = time.perf_counter() - started
    tally.server_cpu = cpu_seconds(server_pid) - server
    tally.client_cpu = cpu_seconds() - client


async def drive(base: str, server_pid: int, users: int, seconds: float, world: dict,
                think: float) -> tuple[Tally, Tally]:
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users,
                          keepalive_expiry=10)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        # warm-up, not timed: every worker imports what its first submission or vote needs
        warm = Tally()
        people = [VirtualUser(client, warm, world, own, think)
                  for own in world["projects"][:users]]
        until = time.perf_counter() + min(15.0, seconds / 10)
        await phase(warm, server_pid, (person.run(until) for person in people))
        baseline = Tally()
        until = time.perf_counter() + seconds / 5
        await phase(baseline, server_pid, (baseline_user(client, baseline, world["manager"],
                                                         until, think) for _ in range(users)))
        mixed = Tally()
        mixed.errors, mixed.acknowledged = warm.errors, warm.acknowledged  # checked all the same
        for person in people:
            person.tally = mixed
        until = time.perf_counter() + seconds
        await phase(mixed, server_pid, (person.run(until) for person in people))
    return baseline, mixed


# -- one database ---------------------------------------------------------------------------

def prepare(engine, users: int) -> dict:
    """The users' tokens and, per virtual user, a project: its permit, naming a researcher
    of its own. Two output checkers, named in no permit, review every project."""
    _, manager = make_user(engine, Role.permit_manager)
    _, auditor = make_user(engine, Role.auditor)
    _, person = make_user(engine, Role.researcher)
    checkers = [make_user(engine, Role.output_checker)[1] for _ in range(2)]
    dataset = make_dataset(engine)
    world = {"manager": manager, "auditor": auditor, "person": person,
             "checkers": checkers, "projects": []}
    from fastapi.testclient import TestClient

    from spe.settings import Settings
    from spe.web import create_app

    with TestClient(create_app(Settings(data_dir=tempfile.mkdtemp()), engine)) as client:
        for _ in range(users):
            subject, researcher = make_user(engine, Role.researcher)
            response = client.post("/api/v1/permits", json=permit_body(dataset, [subject]),
                                   headers={"Authorization": f"Bearer {manager}"})
            response.raise_for_status()
            permit = response.json()
            world["projects"].append({"permit": permit["id"], "project": permit["project_id"],
                                      "researcher": researcher})
    return world


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100)
    return f"{q[49] * 1000:.0f}/{q[94] * 1000:.0f}/{q[98] * 1000:.0f} ms"


def report(name: str, baseline: Tally, mixed: Tally, lost: int, verified: str) -> bool:
    every = [v for values in mixed.latency.values() for v in values]
    bare = baseline.latency["bare"]
    print(f"\n== {name}")
    print(f"baseline (bare route, SELECT 1): {len(bare) / baseline.elapsed:,.0f} req/s, "
          f"p50/p95/p99 {percentiles(bare)}; {cpu_per_request(baseline, len(bare))}")
    print(f"mixed: {len(every) / mixed.elapsed:,.0f} req/s, p50/p95/p99 {percentiles(every)} "
          f"({len(every):,} requests); {cpu_per_request(mixed, len(every))}")
    for kind, values in sorted(mixed.latency.items()):
        print(f"  {kind:7} {len(values):7,}  p50/p95/p99 {percentiles(values)}")
    print(f"errors: {len(mixed.errors) + len(baseline.errors)}; state changes acknowledged: "
          f"{len(mixed.acknowledged):,}; lost events: {lost}; verify: {verified}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    for error in (mixed.errors + baseline.errors)[:10]:
        print("  ", error)
    return not mixed.errors and not baseline.errors and lost == 0


def cpu_per_request(tally: Tally, requests: int) -> str:
    """The server's CPU per request, and the share of the run the load generator used."""
    if not requests:
        return "no requests"
    return (f"server CPU {tally.server_cpu / requests * 1000:.1f} ms/request, "
            f"load generator {tally.client_cpu / tally.elapsed:.0%} of a CPU")


def lost_events(engine, acknowledged: list[str]) -> int:
    query = text("SELECT DISTINCT request_id FROM audit_event WHERE outcome = 'success' "
                 "AND request_id IN :ids").bindparams(bindparam("ids", expanding=True))
    found: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(acknowledged), 1000):
            found |= {r[0] for r in conn.execute(query, {"ids": acknowledged[i:i + 1000]})}
    return len(set(acknowledged) - found)


def verify(engine, data_dir: str) -> str:
    from spe.audit.config import AuditConfig
    from spe.audit.verify import verify_database
    from spe.settings import Settings

    signer = AuditConfig.from_settings(Settings(data_dir=data_dir)).signer()
    cutoff = datetime.now(UTC) - timedelta(days=3650)
    try:
        with Session(engine) as session:
            result = verify_database(session, signer.public_key, cutoff)
    except Exception as exc:  # the verdict is what is reported
        return f"FAILED ({type(exc).__name__}: {exc})"
    return f"clean ({result.size:,} leaves)"


def run(name: str, url: str, users: int, seconds: float, think: float, workers: int) -> bool:
    data_dir = tempfile.mkdtemp(prefix="spe-load-")
    engine = make_engine(url)
    world = prepare(engine, users)
    process, base = start_server(url, data_dir, workers)
    try:
        baseline, mixed = asyncio.run(drive(base, process.pid, users, seconds, world, think))
    finally:
        process.terminate()
        process.wait(timeout=30)
    ok = report(name, baseline, mixed, lost_events(engine, mixed.acknowledged),
                verify(engine, data_dir))
    engine.dispose()
    return ok


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", "--seconds", dest="seconds", type=float, default=300,
                        help="seconds of the mixed workload (the baseline runs a fifth)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean pause of a user between requests, in seconds (exponential);"
                             " 0 makes the run a saturation test")
    parser.add_argument("--workers", type=int, default=2,
                        help="uvicorn workers on PostgreSQL (the chart's two API replicas);"
                             " SQLite, the embedded platform, is served by one")
    parser.add_argument("--short", action="store_true", help="10 users x 20 s")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"])
    args = parser.parse_args()
    users, seconds = (10, 20.0) if args.short else (args.users, args.seconds)
    print(f"{users} virtual users x {seconds:.0f} s (baseline {seconds / 5:.0f} s), "
          f"pauses of {args.think:g} s on average between a user's requests")
    ok = True
    if "sqlite" in args.databases:
        folder = tempfile.mkdtemp(prefix="spe-load-db-")
        url = f"sqlite:///{folder}/spe.db"
        migrations.upgrade(make_engine(url))
        ok &= run("SQLite (one worker)", url, users, seconds, args.think, 1)
    if "postgres" in args.databases:
        from testsupport.postgres import running_postgres

        with running_postgres(durable=True) as server:
            database = server.create_production_database()
            owner = make_engine(database.owner_url)
            migrations.upgrade(owner, app_role=database.app_role)
            owner.dispose()
            ok &= run(f"PostgreSQL (application role, {args.workers} workers)",
                      database.app_url, users, seconds, args.think, args.workers)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
