"""The body limit holds while the body streams in, before authentication reads it.

The application is called as the ASGI server calls it, with a ``receive`` that makes the
body up chunk by chunk and counts what was taken: a 200 MiB JSON body without credentials
must be refused 413 after at most the limit (plus one chunk) has been read. Before, FastAPI
read the whole body, then answered 401.
"""

from __future__ import annotations

import asyncio

import pytest

from spe.api.body_limit import egress_upload_limits

CHUNK = 256 * 1024
HUGE = 200 * 1024 * 1024


def call(app, method: str, path: str, size: int, headers: list | None = None):
    """(status, bytes of body read) of a request whose body is ``size`` bytes of JSON."""
    taken = 0
    sent = {}

    async def receive():
        nonlocal taken
        if taken >= size:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = b" " * min(CHUNK, size - taken)
        taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": taken < size}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("testserver", 80),
             "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         *(headers or [])]}
    asyncio.run(app(scope, receive, send))
    return sent["status"], taken


def test_a_streamed_body_is_cut_at_the_limit(client, settings):
    status, taken = call(client.app, "POST", "/api/v1/audit/ingest", HUGE)
    assert status == 413
    assert taken <= settings.api_max_body_bytes + CHUNK


def test_a_declared_length_over_the_limit_reads_nothing(client):
    status, taken = call(client.app, "POST", "/api/v1/audit/ingest", HUGE,
                         [(b"content-length", str(HUGE).encode())])
    assert (status, taken) == (413, 0)
    response = client.post("/api/v1/audit/ingest", content=b" " * (2 * 1024 * 1024),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"


def test_the_answer_says_why(client):
    chunks = (b" " * CHUNK for _ in range(8))  # streamed: no Content-Length
    response = client.post("/api/v1/me/tokens", content=chunks,
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"


@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/projects/p-1/egress-requests"),
    ("PUT", "/api/v1/egress/requests/r-1/files/f-1")])
def test_egress_uploads_get_the_packs_limit(client, method, path):
    submission, replacement = egress_upload_limits()
    limit = submission if method == "POST" else replacement
    assert limit > 5 * 1024 * 1024  # a pack's file, not the JSON limit
    status, _ = call(client.app, method, path, 2 * 1024 * 1024)
    assert status == 401  # past the body limit: the credentials are what is missing
    status, taken = call(client.app, method, path, limit + 10 * CHUNK)
    assert status == 413 and taken <= limit + CHUNK
