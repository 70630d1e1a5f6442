"""Security headers on every response: every route of the application (with and without
credentials), the sign-in page and its stylesheet, /docs, /openapi.json, a 404, a 413 and
a 500. HSTS only when the request came over TLS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from spe.api.security_headers import STRICT_CSP
from spe.domain.roles import Role
from spe.web import create_app
from tests.api.test_route_roles import concrete, routes
from testsupport.factories import auth

EXPECTED = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer"}


def check(response, https: bool = False) -> None:
    where = (response.request.method, response.request.url.path, response.status_code)
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (where, name)
    csp = response.headers.get("content-security-policy", "")
    assert csp == STRICT_CSP, where
    assert "frame-ancestors 'none'" in csp
    assert ("strict-transport-security" in response.headers) == https, where


def test_every_route_and_page(client, tokens):
    for method, path in routes(client):
        for headers in ({}, auth(tokens[Role.admin])):
            check(client.request(method, concrete(path), headers=headers,
                                 follow_redirects=False))
    for path in ("/docs", "/openapi.json", "/auth/login", "/console/static/console.css",
                 "/does-not-exist"):
        check(client.get(path))
    check(client.post("/api/v1/me/tokens", content=(b" " * 65536 for _ in range(32)),
                      headers={"content-type": "application/json"}))


def test_the_sign_in_page_needs_no_inline_script_or_style(client):
    page = client.get("/auth/login").text
    assert "<script" not in page and "<style" not in page and " style=" not in page
    assert client.get("/console/static/console.css").status_code == 200


@pytest.mark.parametrize("https", [True, False])
def test_hsts_only_over_tls(client, https):
    base = "https://testserver" if https else "http://testserver"
    check(client.get(f"{base}/healthz"), https=https)


def test_server_errors_carry_them(engine, settings):
    app = create_app(settings, engine)

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    check(response)
