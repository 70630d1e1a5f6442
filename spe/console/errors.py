"""Browsers get HTML error pages; API clients keep the JSON error body.

The application's exception handlers stay the single place that turns an error into a
status and a message; this wraps each of them and, when the caller asks for HTML
(``Accept: text/html``, which browsers send and API clients do not), shows the same
status and message in a page, in the reader's language. An unauthenticated browser is
sent to sign in instead.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from spe.console.i18n import problem
from spe.console.web import render
from spe.errors import SpeError
from spe.messages import Message

KEPT_HEADERS = ("retry-after", "www-authenticate")


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _message(response: Response) -> tuple[str, str]:
    try:
        error = json.loads(response.body)["error"]
        return error.get("code", ""), error.get("message", "")
    except (ValueError, KeyError, TypeError):
        return "", ""


def _said(exc: Exception, message: str) -> Message | str:
    """What the page says: the error's own message, which the page translates."""
    if isinstance(exc, SpeError):
        return exc.message
    if isinstance(exc, RequestValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return Message("{field}: {problem}", field=where, problem=problem(first))
    return message


def negotiated(handler):
    async def handle(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        if not isinstance(response, Response) or not wants_html(request):
            return response
        if response.status_code == 401 and request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", 303)
        code, message = _message(response)
        page = render(request, "error.html", status=response.status_code,
                      code=code, message=_said(exc, message), http_status=response.status_code)
        for name in KEPT_HEADERS:
            if name in response.headers:
                page.headers[name] = response.headers[name]
        return page

    return handle


def install(app: FastAPI) -> None:
    for kind, handler in list(app.exception_handlers.items()):
        app.exception_handlers[kind] = negotiated(handler)
