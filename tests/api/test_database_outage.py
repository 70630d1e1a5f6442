"""PostgreSQL restarted under load: 503 with Retry-After while it is down (never a 500), back
by itself once it is up, and no acknowledged change lost (each with its audit event).

A private PostgreSQL server (not the suite's shared one, which other tests use) is stopped
(``pg_ctl stop -m fast``, as a service restart does: connections cut) while four clients
create permits and suspend them through a real HTTP server, then started again.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from sqlmodel import Session, select

from spe import migrations
from spe.audit import AuditEvent
from spe.db import make_engine
from spe.domain.permits import Permit
from spe.domain.roles import Role
from spe.settings import Settings
from spe.web import create_app
from testsupport.factories import auth, make_dataset, make_user, permit_body
from testsupport.live_server import serving
from testsupport.postgres import _as_postgres, _bindir, running_postgres

pytestmark = pytest.mark.slow
CLIENTS = 4


@dataclass
class Load:
    """What the clients saw: acknowledged changes and every answer's status."""

    statuses: Counter = field(default_factory=Counter)
    created: set[str] = field(default_factory=set)  # permit ids answered 201
    suspended: set[str] = field(default_factory=set)  # permit ids answered 200 to suspend
    retry_after: set[str] = field(default_factory=set)
    transport_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note_transport(self, exc: httpx.TransportError) -> None:
        with self.lock:
            self.transport_errors.append(repr(exc))

    def note(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503:
                self.retry_after.add(response.headers.get("Retry-After", ""))


def client_loop(url: str, token: str, dataset: str, member: str, load: Load,
                stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers=auth(token), timeout=30) as http:
        while not stop.is_set():
            try:
                created = http.post("/api/v1/permits", json=permit_body(dataset, [member]))
            except httpx.TransportError as exc:
                load.note_transport(exc)
                time.sleep(0.05)
                continue
            load.note(created)
            if created.status_code != 201:
                time.sleep(0.05)
                continue
            permit_id = created.json()["id"]
            with load.lock:
                load.created.add(permit_id)
            try:
                suspended = http.post(f"/api/v1/permits/{permit_id}/suspend",
                                      json={"reason": "outage test"})
            except httpx.TransportError as exc:
                load.note_transport(exc)
                continue
            load.note(suspended)
            if suspended.status_code == 200:
                with load.lock:
                    load.suspended.add(permit_id)


@contextmanager
def stopping(stop: threading.Event) -> Iterator[None]:
    try:
        yield
    finally:
        stop.set()


def pg_ctl(server, data_dir: str, sock: str, action: str) -> None:
    opts = f"-h 127.0.0.1 -p {server.port} -k {sock} -c fsync=off -c full_page_writes=off"
    args = [str(_bindir() / "pg_ctl"), "-D", data_dir, "-w", "-t", "60"]
    if action == "stop":
        _as_postgres([*args, "-m", "fast", "stop"])
    else:
        _as_postgres([*args, "-o", opts, "-l", f"{data_dir}/../log", "start"])


def test_postgres_restart_under_load_answers_503_then_recovers_losing_nothing(tmp_path):
    with running_postgres() as server:
        database = server.create_database()
        engine = make_engine(server.url(database))
        migrations.upgrade(engine)
        with engine.connect() as conn:
            data_dir = conn.exec_driver_sql("SHOW data_directory").scalar()
            sock = conn.exec_driver_sql("SHOW unix_socket_directories").scalar()
        _, token = make_user(engine, Role.permit_manager)
        member, _ = make_user(engine, Role.researcher)
        dataset = make_dataset(engine)
        load, stop = Load(), threading.Event()
        app = create_app(Settings(data_dir=tmp_path), engine)
        with serving(app) as url, stopping(stop):
            clients = [threading.Thread(target=client_loop, daemon=True,
                                        args=(url, token, dataset, member, load, stop))
                       for _ in range(CLIENTS)]
            for client in clients:
                client.start()
            time.sleep(3)
            acknowledged_before = len(load.created)
            pg_ctl(server, data_dir, sock, "stop")
            try:
                time.sleep(3)  # the clients keep asking
                down = httpx.get(f"{url}/api/v1/permits", headers=auth(token), timeout=30)
                browser = httpx.get(f"{url}/api/v1/me", cookies={"spe_session": "x" * 43},
                                    timeout=30)  # a session cookie is read before any route
            finally:  # started again whatever happens, so the server stops cleanly
                pg_ctl(server, data_dir, sock, "start")
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "database.unavailable"
            assert down.headers["Retry-After"] == "5"
            assert browser.status_code == 503, browser.text
            assert browser.json()["error"]["code"] == "database.unavailable"
            assert browser.headers["Retry-After"] == "5"
            recovered_at = time.monotonic()
            while httpx.get(f"{url}/api/v1/permits", headers=auth(token),
                            timeout=30).status_code != 200:
                assert time.monotonic() - recovered_at < 30, "no recovery"
                time.sleep(0.2)
            created_at_recovery = len(load.created)
            time.sleep(3)
            stop.set()
            for client in clients:
                client.join(timeout=60)

        assert acknowledged_before > 0 and len(load.created) > created_at_recovery
        assert load.statuses[503] > 0 and load.retry_after == {"5"}
        assert set(load.statuses) <= {200, 201, 503}, load.statuses  # never a 500
        assert load.transport_errors == []  # never a dropped connection either
        with Session(engine) as session:
            permits = {p.id: p for p in session.exec(select(Permit))}
            events = session.exec(select(AuditEvent.action, AuditEvent.target_id).where(
                AuditEvent.target_type == "permit")).all()
        engine.dispose()
    created_events = {target for action, target in events if action == "permit.create"}
    suspend_events = {target for action, target in events if action == "permit.suspend"}
    assert load.created <= set(permits) and load.created <= created_events
    assert load.suspended <= suspend_events
    assert all(permits[p].status.value == "suspended" for p in load.suspended)
    assert set(permits) == created_events  # a change answered 503 is whole or absent
