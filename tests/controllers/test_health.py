"""The controller's probes (controllers/health.py), over real HTTP."""

import socket
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from controllers.controller import Controller, run_as_leader
from controllers.health import Heartbeat, serve_health


@pytest.fixture
def probe():
    def start(heartbeat):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = serve_health(heartbeat, port, host="127.0.0.1")
        servers.append(server)
        return lambda path: httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_ready_only_after_a_first_turn_and_alive_until_the_loop_stalls(probe):
    heartbeat = Heartbeat(stall_seconds=0.3)
    get = probe(heartbeat)
    assert get("/healthz").status_code == 200
    not_yet = get("/readyz")
    assert not_yet.status_code == 503 and "first turn" in not_yet.json()["reason"]
    heartbeat.beat()
    assert get("/readyz").status_code == 200 and get("/healthz").status_code == 200
    time.sleep(0.4)
    stalled = get("/healthz")
    assert stalled.status_code == 503 and "no turn of the loop" in stalled.json()["reason"]
    assert get("/readyz").status_code == 503
    assert get("/other").status_code == 404


class FakeLease:
    duration = 0.05
    is_leader = False  # a follower beats too: waiting is its work

    def try_acquire_or_renew(self):
        pass

    def release(self):
        pass


def test_the_loop_beats_each_turn():
    heartbeat = Heartbeat()
    stop = threading.Event()
    controller = Controller(SimpleNamespace(engine=None), poll_seconds=0.01)
    thread = threading.Thread(target=run_as_leader,
                              args=(controller, stop, FakeLease(), heartbeat))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while heartbeat.status()[1] is False and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heartbeat.status() == (True, True, "ok")
    finally:
        stop.set()
        thread.join(5)
