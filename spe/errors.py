"""The exceptions of spe's domain, drawn in one place.

    SpeError                      code, message; the API maps ``status``
    ├── InvalidInput   (422)      the request is well-formed but its content is not acceptable
    ├── Unauthenticated (401)     no valid credentials
    ├── Forbidden      (403)      authenticated, not allowed
    ├── NotFound       (404)      absent, or not visible to the caller
    ├── Conflict       (409)      not allowed in the current state (illegal transition, duplicate)
    └── Misconfigured  (503)      the deployment's configuration cannot serve the request

    OperationFailure              a step of work on infrastructure (runtime, data plane) failed
    ├── RetryableError            transient (API unreachable, conflict): retry with backoff
    └── TerminalError             retrying will not fix it (invalid spec, forbidden)

Services raise these; routes never build error responses themselves.
"""

from __future__ import annotations

from typing import Any


class SpeError(Exception):
    status: int = 400
    default_code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None,
                 details: Any | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details


class InvalidInput(SpeError):
    status = 422
    default_code = "invalid_input"


class Unauthenticated(SpeError):
    status = 401
    default_code = "unauthenticated"


class Forbidden(SpeError):
    status = 403
    default_code = "forbidden"


class NotFound(SpeError):
    status = 404
    default_code = "not_found"


class Conflict(SpeError):
    status = 409
    default_code = "conflict"


class Misconfigured(SpeError):
    status = 503
    default_code = "misconfigured"


class OperationFailure(Exception):
    """Base of failures of work done on infrastructure (runtimes, the data plane)."""


class RetryableError(OperationFailure):
    """A transient failure (API unreachable, conflict): the reconciler retries with backoff."""


class TerminalError(OperationFailure):
    """A failure that retrying will not fix (invalid spec, forbidden): reported on the project."""
