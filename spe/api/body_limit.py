"""Request body limits, per route, enforced while the body streams in.

FastAPI reads a route's whole body before any dependency runs, authentication included: a
caller without credentials could make the server buffer hundreds of megabytes before its
401. Starlette's body limit (``max_body_size``, on the application and on a route) counts
the bytes as they arrive and answers 413 as soon as they pass the limit, or before reading
anything when the declared ``Content-Length`` already does.

Starlette answers a declared length over the limit with a plain-text 413 of its own, sent
from outside the application's error handlers; :class:`JsonTooLarge`, wrapped around the
whole stack, turns it into spe's error body.

The application's default is :attr:`Settings.api_max_body_bytes` (JSON and forms). Egress
uploads get the largest request a shipped policy pack admits (its files per request times
its file size limit, with room for the multipart framing); the pack of the project then
checks each file. Dataset sources get :data:`SOURCE_UPLOAD_BYTES`.
"""

from __future__ import annotations

import json

import policies

MULTIPART_ROOM = 64 * 1024  # per part: headers, boundary, a description
SOURCE_UPLOAD_BYTES = 2 * 1024**3  # larger sources go to object storage, registered by key


def egress_upload_limits() -> tuple[int, int]:
    """(a submission, one replaced file): the largest each may be under any shipped pack."""
    submission = replacement = 0
    for name in policies.available("packs"):
        egress = policies.load("packs", name)["egress"]
        per_file = egress["max_file_bytes"] + MULTIPART_ROOM
        archives = egress.get("archives", {})
        if archives.get("allowed"):
            per_file = max(per_file, archives.get("max_total_bytes", 0) + MULTIPART_ROOM)
        submission = max(submission, egress["max_files_per_request"] * per_file
                         + MULTIPART_ROOM)
        replacement = max(replacement, per_file + MULTIPART_ROOM)
    return submission, replacement


EGRESS_SUBMISSION_BYTES, EGRESS_REPLACEMENT_BYTES = egress_upload_limits()


TOO_LARGE = json.dumps({"error": {
    "code": "request.too_large",
    "message": "the request body is over this route's limit"}}).encode()


class JsonTooLarge:
    """Pure ASGI: a plain-text 413 becomes ``{"error": {"code": "request.too_large", …}}``."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing = False

        async def send_json(message):
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] == 413:
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                if kind.startswith(b"text/plain"):
                    replacing = True
                    headers = [(k, v) for k, v in message.get("headers", [])
                               if k not in (b"content-type", b"content-length")]
                    message = {**message, "headers": [
                        *headers, (b"content-type", b"application/json"),
                        (b"content-length", str(len(TOO_LARGE)).encode())]}
            elif message["type"] == "http.response.body" and replacing:
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": TOO_LARGE}
            await send(message)

        await self.app(scope, receive, send_json)
