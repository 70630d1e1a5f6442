"""Request body limits, per route, enforced while the body streams in.

FastAPI reads a route's whole body before any dependency runs, authentication included: a
caller without credentials could make the server buffer hundreds of megabytes before its
401. Starlette's body limit (``max_body_size``, on the application and on a route) counts
the bytes as they arrive and answers 413 as soon as they pass the limit, or before reading
anything when the declared ``Content-Length`` already does.

The application's default is :attr:`Settings.api_max_body_bytes` (JSON and forms). Egress
uploads get the largest request a shipped policy pack admits (its files per request times
its file size limit, with room for the multipart framing); the pack of the project then
checks each file. Dataset sources get :data:`SOURCE_UPLOAD_BYTES`.
"""

from __future__ import annotations

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
