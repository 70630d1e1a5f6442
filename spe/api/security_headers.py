"""Security headers on every response (pure ASGI middleware around the whole stack).

A strict Content-Security-Policy (scripts, styles and everything else only from this
origin, never inline; no framing), ``X-Frame-Options: DENY`` for older browsers,
``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, and HSTS when the
request came over TLS. Pages must therefore keep their scripts and styles in files served
by the control plane: ``/docs`` too (Swagger UI served by spe and started by a module of
ours). A response that already carries a Content-Security-Policy keeps it (a page may send
a stricter one, e.g. with a nonce).
"""

from __future__ import annotations

# No form-action: browsers apply it to the redirects after a form too, and the sign-in form
# ends at a project hub's callback, on another origin.
STRICT_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
HSTS = "max-age=31536000; includeSubDomains"
COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def headers_for(https: bool) -> dict[str, str]:
    headers = {"Content-Security-Policy": STRICT_CSP, **COMMON}
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def header_pairs(https: bool = False) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers_for(https).items()]


class SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = header_pairs(scope.get("scheme") == "https")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message = {**message, "headers": [
                    *message.get("headers", []),
                    *((k, v) for k, v in extra if k not in present)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
