"""workspaces/image/fetch_extract.py against a local HTTP server standing in for the grant."""

import importlib.util
import io
import stat
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "workspaces" / "image" / "fetch_extract.py"
_spec = importlib.util.spec_from_file_location("fetch_extract", SCRIPT)
fetch_extract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_extract)

TOKEN = "grant-token"


def tarball(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture
def grant_server():
    state = {"body": b"", "statuses": [], "seen": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["seen"].append((self.headers.get("Authorization"), self.headers.get("Accept")))
            status = state["statuses"].pop(0) if state["statuses"] else 200
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status = 401
            body = state["body"] if status == 200 else b"no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/api/v1/extracts/grant"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_extract_is_unpacked_read_only(grant_server, tmp_path):
    grant_server["body"] = tarball({"cohort.parquet": b"PAR1", "docs/README.txt": b"hi"})
    count = fetch_extract.fetch(grant_server["url"], TOKEN, tmp_path)
    assert count == 2
    assert (tmp_path / "docs" / "README.txt").read_bytes() == b"hi"
    assert stat.S_IMODE((tmp_path / "cohort.parquet").stat().st_mode) == 0o444
    assert stat.S_IMODE((tmp_path / "docs").stat().st_mode) == 0o555
    assert grant_server["seen"] == [(f"Bearer {TOKEN}", "application/x-tar")]


def test_server_errors_are_retried(grant_server, tmp_path):
    grant_server["body"] = tarball({"a.csv": b"1"})
    grant_server["statuses"] = [503, 502]
    assert fetch_extract.fetch(grant_server["url"], TOKEN, tmp_path, backoff_seconds=0) == 1
    assert len(grant_server["seen"]) == 3


def test_a_refused_grant_fails_at_once(grant_server, tmp_path):
    with pytest.raises(fetch_extract.FetchError, match="refused the extract: 401"):
        fetch_extract.fetch(grant_server["url"], "expired", tmp_path, backoff_seconds=0)
    assert len(grant_server["seen"]) == 1


@pytest.mark.parametrize(("members", "links"), [
    ({"../escape.txt": b"x"}, None),
    ({}, {"data-link": "/etc/passwd"}),
])
def test_members_escaping_the_target_are_refused(grant_server, tmp_path, members, links):
    grant_server["body"] = tarball(members, links)
    target = tmp_path / "data"
    target.mkdir()
    with pytest.raises(tarfile.TarError):
        fetch_extract.fetch(grant_server["url"], TOKEN, target)
    assert not (tmp_path / "escape.txt").exists()
    assert not (target / "data-link").exists()


def test_absolute_members_land_inside_the_target(grant_server, tmp_path):
    grant_server["body"] = tarball({"/etc/evil": b"x"})
    fetch_extract.fetch(grant_server["url"], TOKEN, tmp_path)
    assert (tmp_path / "etc" / "evil").read_bytes() == b"x"


def test_usage_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("SPE_GRANT_URL", raising=False)
    assert fetch_extract.main([]) == 2
    assert fetch_extract.main([str(tmp_path)]) == 2


def test_main_reports_success_and_failure(grant_server, tmp_path, monkeypatch, capsys):
    grant_server["body"] = tarball({"a.csv": b"1"})
    monkeypatch.setenv("SPE_GRANT_URL", grant_server["url"])
    monkeypatch.setenv("SPE_GRANT_TOKEN", TOKEN)
    assert fetch_extract.main([str(tmp_path / "ok")]) == 0
    assert "1 files" in capsys.readouterr().out
    monkeypatch.setenv("SPE_GRANT_TOKEN", "wrong")
    assert fetch_extract.main([str(tmp_path / "no")]) == 1
    monkeypatch.setenv("SPE_GRANT_URL", "file:///etc/passwd")
    assert fetch_extract.main([str(tmp_path / "no")]) == 1
