"""Workspace test helpers: specs, an audit recorder standing in for the control plane's
ingest endpoint, and a session finalizer that stops every process a local hub left behind."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controllers.runtimes.base import HubOAuthClient, WorkspaceProfile, WorkspaceSpec
from controllers.runtimes.local import processes
from spe.audit.ingest import HubBatch

UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens


class AuditRecorder:
    """Records the JSON bodies POSTed to ``/api/v1/audit/ingest`` with their bearer token,
    after checking each against the control plane's ingestion model."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.token_requests: list[tuple[str, dict]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/v1/audit/ingest":
                    HubBatch.model_validate(body)  # the control plane's own contract
                    recorder.received.append((self.headers.get("Authorization", ""), body))
                    self.send_response(202)
                    self.end_headers()
                elif self.path.endswith("/workspace-token"):
                    recorder.token_requests.append((self.path, body))
                    answer = json.dumps({"token": f"spe_for-{body['user']}"}).encode()
                    self.send_response(201)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                else:
                    self.send_response(404)
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def events(self, project_id: str) -> list[tuple[str, dict]]:
        """(bearer header, event) for every event received about ``project_id``."""
        return [(token, e) for token, body in list(self.received) for e in body["events"]
                if e["project_id"] == project_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def audit_recorder() -> Iterator[AuditRecorder]:
    recorder = AuditRecorder()
    yield recorder
    recorder.close()


def make_spec(project_id: str, users: tuple[str, ...] = ("alice", "bob"), *,
              idle_timeout_seconds: int = 3600, control_plane_url: str = UNREACHABLE,
              ) -> WorkspaceSpec:
    return WorkspaceSpec(
        project_id=project_id,
        permit_reference=f"PERMIT-{project_id}",
        users=users,
        profile=WorkspaceProfile(name="test", image="unused", hub_image="unused",
                                 idle_timeout_seconds=idle_timeout_seconds),
        oauth=HubOAuthClient(
            client_id=f"hub-{project_id}",
            client_secret="client-secret",
            authorize_url=f"{UNREACHABLE}/oauth/authorize",
            token_url=f"{UNREACHABLE}/oauth/token",
            userdata_url=f"{UNREACHABLE}/oauth/userinfo",
        ),
        control_plane_url=control_plane_url,
        hub_service_token="hub-service-token",
    )


def processes_under(root: Path) -> set[int]:
    """Live processes whose SPE_WORKSPACE marker names a project directory under ``root``."""
    prefix = f"SPE_WORKSPACE={root}/".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(prefix) for v in environ) and processes.alive(int(entry.name)):
            found.add(int(entry.name))
    return found


@pytest.fixture(scope="session")
def runtime_root(tmp_path_factory) -> Iterator[Path]:
    """The root shared by every LocalRuntime in the tests; whatever runs under it is killed
    at the end of the session, whatever the tests did."""
    root = tmp_path_factory.mktemp("local-runtime")
    yield root
    processes.stop_pids(processes_under(root), timeout=5)
