"""workspaces/image/fetch_extract.py: retries, refusals and file-name safety, against a small
local server; tests/dataplane/test_fetch_extract.py runs it against the real control plane."""

import importlib.util
import json
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "workspaces" / "image" / "fetch_extract.py"
_spec = importlib.util.spec_from_file_location("fetch_extract", SCRIPT)
fetch_extract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_extract)

TOKEN = "grant-token"


@pytest.fixture
def grant_server():
    state = {"files": {}, "statuses": [], "seen": [], "names": {}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["seen"].append(self.path)
            status = state["statuses"].pop(0) if state["statuses"] else 200
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status = 401
            if self.path == "/index":
                body = json.dumps({"files": [
                    {"filename": state["names"].get(n, f"{n}.parquet"),
                     "url": f"{state['base']}/files/{n}"} for n in state["files"]]}).encode()
            else:
                body = state["files"].get(self.path.rsplit("/", 1)[-1], b"")
            body = body if status == 200 else b"no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    state["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    state["url"] = f"{state['base']}/index"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_files_are_written_read_only(grant_server, tmp_path):
    grant_server["files"] = {"care": b"PAR1care", "people": b"PAR1people"}
    target = tmp_path / "data"
    assert fetch_extract.fetch(grant_server["url"], TOKEN, target) == 2
    assert (target / "care.parquet").read_bytes() == b"PAR1care"
    assert stat.S_IMODE((target / "care.parquet").stat().st_mode) == 0o444
    assert stat.S_IMODE(target.stat().st_mode) == 0o555


def test_server_errors_are_retried(grant_server, tmp_path):
    grant_server["files"] = {"a": b"1"}
    grant_server["statuses"] = [503, 502]
    assert fetch_extract.fetch(grant_server["url"], TOKEN, tmp_path / "d",
                               backoff_seconds=0) == 1
    assert grant_server["seen"] == ["/index", "/index", "/index", "/files/a"]


def test_a_refused_grant_fails_at_once(grant_server, tmp_path):
    with pytest.raises(fetch_extract.FetchError, match=r"refused .*: 401"):
        fetch_extract.fetch(grant_server["url"], "expired", tmp_path / "d", backoff_seconds=0)
    assert len(grant_server["seen"]) == 1


@pytest.mark.parametrize("name", ["../escape.parquet", "/etc/passwd", "a/b.parquet", ".."])
def test_file_names_escaping_the_target_are_refused(grant_server, tmp_path, name):
    grant_server["files"] = {"x": b"1"}
    grant_server["names"] = {"x": name}
    with pytest.raises(fetch_extract.FetchError, match="refusing file name"):
        fetch_extract.fetch(grant_server["url"], TOKEN, tmp_path / "data")
    assert not (tmp_path / "escape.parquet").exists()


def test_usage_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("SPE_GRANT_URL", raising=False)
    assert fetch_extract.main([]) == 2
    assert fetch_extract.main([str(tmp_path)]) == 2


def test_main_reports_success_and_failure(grant_server, tmp_path, monkeypatch, capsys):
    grant_server["files"] = {"a": b"1"}
    monkeypatch.setenv("SPE_GRANT_URL", grant_server["url"])
    monkeypatch.setenv("SPE_GRANT_TOKEN", TOKEN)
    assert fetch_extract.main([str(tmp_path / "ok")]) == 0
    assert "1 files" in capsys.readouterr().out
    monkeypatch.setenv("SPE_GRANT_TOKEN", "wrong")
    assert fetch_extract.main([str(tmp_path / "no")]) == 1
    monkeypatch.setenv("SPE_GRANT_URL", "file:///etc/passwd")
    assert fetch_extract.main([str(tmp_path / "no2")]) == 1
