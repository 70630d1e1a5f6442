"""The controller's probes: ``/healthz`` (its loop still turns) and ``/readyz`` (it has
finished a first turn), over plain HTTP on ``SPE_CONTROLLER_HEALTH_PORT``.

The loop calls :meth:`Heartbeat.beat` once per turn, leader or not (a follower's turn is a
wait). A turn that runs longer than ``stall_seconds`` (a pass wedged on a dead connection)
makes ``/healthz`` answer 503, so Kubernetes restarts the pod; the lease, held by a separate
thread, passes to another replica when this one stops renewing it.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_SECONDS = 900.0
"""Longer than any reconcile pass should take, a large extract included."""


class Heartbeat:
    def __init__(self, stall_seconds: float = STALL_SECONDS):
        self.stall_seconds = stall_seconds
        self._last: float | None = None
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def status(self) -> tuple[bool, bool, str]:
        """``(alive, ready, reason)``."""
        with self._lock:
            last = self._last
        if last is None:
            return True, False, "the first turn of the loop has not finished"
        age = time.monotonic() - last
        if age > self.stall_seconds:
            return False, False, f"no turn of the loop for {age:.0f} s"
        return True, True, "ok"


def serve_health(heartbeat: Heartbeat, port: int, host: str = "") -> ThreadingHTTPServer:
    """Answer the probes in a daemon thread; ``shutdown()`` the returned server to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            alive, ready, reason = heartbeat.status()
            ok = {"/healthz": alive, "/readyz": ready}.get(self.path)
            if ok is None:
                self._answer(404, {"status": "not found"})
            else:
                self._answer(200 if ok else 503,
                             {"status": "ok" if ok else "unavailable", "reason": reason})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):  # probes every few seconds: no access log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server
