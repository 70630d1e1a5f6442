"""spe's API with its institution's real OpenID provider: sign-in, the provider's access
tokens, just-in-time users and roles from groups, MFA, and the access table holding for
session, provider-token and personal-token callers alike."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient

from spe import migrations
from spe.db import make_engine
from spe.domain.roles import Role
from spe.settings import Settings
from spe.web import create_app
from tests.api.test_route_roles import (
    COMPONENTS,
    EXPECTED,
    HUB,
    OPEN_KINDS,
    PERSON,
    PROTOCOL,
    access_of,
    api_routes,
    concrete,
    routes,
)
from tests.audit.factories import running_signer
from testsupport.factories import make_user

GROUP = "/spe/{}".format


@pytest.fixture(scope="module")
def app(oidc_provider, tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'spe.db'}")
    migrations.upgrade(engine)
    config = oidc_provider.config(
        redirect_uri=f"{oidc_provider.rp_base_url}/auth/oidc/callback",
        role_mapping={GROUP(r.value): [r.value] for r in Role})
    for role in Role:
        oidc_provider.set_user(f"{role.value}-person", groups=[GROUP(role.value)],
                               amr=["pwd", "otp"])
    oidc_provider.set_user("alice", name="Alice Martin", groups=[GROUP("researcher")],
                           amr=["pwd", "otp"])
    oidc_provider.set_user("nofactor", groups=[GROUP("researcher")], amr=["pwd"])
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    with running_signer(engine, settings):  # signs the checkpoints the audit routes ask for
        yield create_app(settings, engine, oidc=config)
    engine.dispose()


def sign_in(app, provider, login: str) -> tuple[TestClient, httpx.Response]:
    """A browser: spe's sign-in → the provider's forms → back to spe's callback."""
    spe = TestClient(app, base_url=provider.rp_base_url)
    response = spe.get("/auth/oidc/login", params={"next": "/api/v1/me"},
                       follow_redirects=False)
    with httpx.Client() as at_provider:
        response = provider.follow_login(at_provider, response, login)
    back = httpx.URL(response.headers["location"])
    return spe, spe.get(f"{back.path}?{back.query.decode()}", follow_redirects=False)


def access_token(provider, login: str) -> str:
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as c:
        response = c.get(f"{provider.issuer}/auth", params={
            "client_id": provider.client_id, "response_type": "code",
            "redirect_uri": provider.redirect_uri, "resource": provider.audience,
            "scope": f"openid profile groups {provider.api_scope}", "state": "s",
            "nonce": "n", "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256"})
        response = provider.follow_login(c, response, login)
        code = httpx.URL(response.headers["location"]).params["code"]
        tokens = c.post(f"{provider.issuer}/token", auth=(provider.client_id,
                                                           provider.client_secret), data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": provider.redirect_uri, "code_verifier": verifier})
    tokens.raise_for_status()
    return tokens.json()["access_token"]


def test_sign_in_routes_declare_their_access(app):
    """The routes mounted with the provider are browser routes, like the token sign-in."""
    oidc = [r for r in api_routes(app) if r.path.startswith("/auth/oidc/")]
    assert {r.path for r in oidc} == {"/auth/oidc/login", "/auth/oidc/callback",
                                      "/auth/oidc/logout"}
    for route in oidc:
        assert [a[0] for a in access_of(route)] == ["browser"], route.path


def test_sign_in_then_provider_token_reach_the_same_user(app, oidc_provider):
    browser, callback = sign_in(app, oidc_provider, "alice")
    assert callback.status_code == 303 and callback.headers["location"] == "/api/v1/me"
    me = browser.get("/api/v1/me").json()
    assert me["subject"] == "alice" and me["display_name"] == "Alice Martin"
    assert me["roles"] == ["researcher"] and me["mfa"]
    assert me["authenticated_via"] == "session:oidc" and me["csrf_token"]

    token = access_token(oidc_provider, "alice")
    api = TestClient(app)
    again = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert again["id"] == me["id"] and again["authenticated_via"] == "oidc"


def test_without_second_factor_is_refused(app, oidc_provider):
    browser, callback = sign_in(app, oidc_provider, "nofactor")
    assert callback.status_code == 401
    assert callback.json()["error"]["code"] == "auth.oidc.mfa_required"
    assert browser.get("/api/v1/me").status_code == 401
    token = access_token(oidc_provider, "nofactor")
    response = TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("MFA required")


def test_cookie_calls_that_change_state_need_the_csrf_token(app, oidc_provider):
    browser, _ = sign_in(app, oidc_provider, "alice")
    refused = browser.post("/api/v1/me/tokens", json={"description": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.csrf"
    csrf = browser.get("/api/v1/me").json()["csrf_token"]
    made = browser.post("/api/v1/me/tokens", json={"description": "x"},
                        headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201


def callers(app, provider, role: Role) -> Iterator[tuple[str, TestClient, dict]]:
    login = f"{role.value}-person"
    browser, _ = sign_in(app, provider, login)
    csrf = browser.get("/api/v1/me").json()["csrf_token"]
    yield "session", browser, {"X-CSRF-Token": csrf}
    yield "provider token", TestClient(app), {
        "Authorization": f"Bearer {access_token(provider, login)}"}


@pytest.mark.parametrize("role", list(Role))
def test_access_table_holds_for_every_kind_of_caller(app, oidc_provider, role):
    engine = app.state.engine
    _, personal = make_user(engine, role)
    kinds = [*callers(app, oidc_provider, role),
             ("personal token", TestClient(app), {"Authorization": f"Bearer {personal}"})]
    for kind, client, headers in kinds:
        for method, path in routes(client):
            if path.startswith("/auth/"):
                continue  # signing in and out is not an API call
            expected = EXPECTED[(method, path)]
            response = client.request(method, concrete(path), headers=headers,
                                      json={} if method in ("POST", "PATCH", "PUT") else None,
                                      follow_redirects=False)
            if expected == PROTOCOL:
                assert response.status_code != 403, (kind, method, path)
            elif path in ("/oauth/authorize", "/workspaces/{project_id}/closed") and \
                    response.status_code == 403:
                # let in, then refused by the permit (no project here): spe's reason page
                assert "You cannot enter this workspace" in response.text, response.text
            elif expected in OPEN_KINDS or expected == PERSON or \
                    (expected not in (HUB, COMPONENTS) and role in expected):
                assert response.status_code not in (401, 403), (kind, role, method, path,
                                                                 response.text)
            else:
                assert response.status_code == 403, (kind, role, method, path)
            assert response.status_code < 500, (kind, method, path, response.text)
