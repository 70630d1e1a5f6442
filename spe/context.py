"""Who is acting and in which request, carried through a call without threading parameters.

The API middleware sets a :class:`RequestContext` per request; reconcilers and the CLI set one
for their own work. The audit log reads it, so every event carries request id, trace id and
client address without each caller passing them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    trace_id: str | None = None
    client_addr: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("spe_request_context", default=None)


def current() -> RequestContext:
    """The context of the running request or job; a fresh one outside any."""
    return _current.get() or RequestContext()


@contextmanager
def bound(ctx: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
