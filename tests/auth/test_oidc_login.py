"""The browser login against a real OpenID provider: a tiny app mounts the login router and
one protected route; an httpx client plays the browser on both sides."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from spe.auth.oidc import (
    BearerAuthenticator,
    Identity,
    OpenIdProvider,
    TokenValidator,
    login_router,
)
from spe.auth.session_middleware import MemorySessionStore, ServerSessionMiddleware
from spe.errors import SpeError, Unauthenticated
from tests.servers.oidc import SIGNED_USERINFO_CLIENT_ID

pytestmark = pytest.mark.anyio

RESEARCHERS = "/spe/researchers"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(oidc_provider, logins: list[Identity], **overrides) -> FastAPI:
    config = oidc_provider.config(role_mapping={RESEARCHERS: ["researcher"]}, **overrides)
    validator = TokenValidator(OpenIdProvider(config))
    bearer = BearerAuthenticator(validator)

    def on_login(identity: Identity, request: Request) -> None:
        logins.append(identity)
        request.session["user"] = identity.subject
        request.session["roles"] = sorted(identity.roles)

    app = FastAPI()
    app.add_middleware(ServerSessionMiddleware, store=MemorySessionStore(), secure=False)
    app.include_router(login_router(validator, on_login))

    @app.get("/private")
    def private(request: Request) -> dict:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            identity = bearer.authenticate_bearer(token)
            return {"user": identity.subject, "roles": sorted(identity.roles), "via": "bearer"}
        if "user" in request.session:
            return {"user": request.session["user"], "roles": request.session["roles"],
                    "via": "session"}
        raise Unauthenticated("login required")

    @app.exception_handler(SpeError)
    async def spe_error(_request: Request, exc: SpeError) -> JSONResponse:
        return JSONResponse({"code": exc.code, "message": exc.message}, exc.status)

    return app


@asynccontextmanager
async def browser(oidc_provider, **overrides):
    logins: list[Identity] = []
    app = make_app(oidc_provider, logins, **overrides)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(mounts={oidc_provider.rp_base_url: transport},
                                 base_url=oidc_provider.rp_base_url) as client:
        client.logins = logins
        yield client


async def start_login(client: httpx.AsyncClient, oidc_provider, login: str,
                      next: str = "/private") -> httpx.Response:
    """From spe's login route to the provider's redirect back to spe (not yet followed)."""
    started = await client.get("/auth/login", params={"next": next})
    assert started.status_code == 303
    return await oidc_provider.browser_login(client, started, login)


async def complete_login(client, oidc_provider, login: str) -> httpx.Response:
    back = await start_login(client, oidc_provider, login)
    return await client.get(back.headers["location"])


@pytest.fixture(scope="module")
def people(oidc_provider):
    oidc_provider.set_user("alice", name="Alice Martin", groups=[RESEARCHERS, "/unmapped"],
                           amr=["pwd", "otp"])
    oidc_provider.set_user("bob", groups=[RESEARCHERS], amr=["pwd"])
    oidc_provider.set_user("carol", acr="urn:spe:loa:high", amr=["pwd"])
    return oidc_provider


async def test_code_flow_opens_a_session_for_the_protected_route(people):
    async with browser(people) as client:
        assert (await client.get("/private")).status_code == 401
        back = await start_login(client, people, "alice")
        assert back.headers["location"].startswith(people.redirect_uri)
        callback = await client.get(back.headers["location"])
        assert callback.status_code == 303
        assert callback.headers["location"] == "/private"
        private = await client.get("/private")
        assert private.json() == {"user": "alice", "roles": ["researcher"], "via": "session"}
        [identity] = client.logins
    assert identity.name == "Alice Martin"
    assert identity.email == "alice@example.org"
    assert identity.groups == {RESEARCHERS, "/unmapped"}
    assert identity.amr == {"pwd", "otp"} and identity.mfa_satisfied
    assert identity.issuer == people.issuer


async def test_the_same_person_reaches_the_api_with_the_providers_access_token(people):
    tokens = await people.tokens_for("alice")
    async with browser(people) as client:
        private = await client.get("/private",
                                   headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert private.json() == {"user": "alice", "roles": ["researcher"], "via": "bearer"}
        id_token = await client.get("/private",
                                    headers={"Authorization": f"Bearer {tokens['id_token']}"})
        assert id_token.status_code == 401
        assert id_token.json()["message"] == "not an access token (typ must be at+jwt, RFC 9068)"


async def test_a_login_without_second_factor_is_refused_with_the_reason(people):
    async with browser(people) as client:
        callback = await complete_login(client, people, "bob")
        assert callback.status_code == 401
        assert callback.json()["code"] == "auth.oidc.mfa_required"
        assert callback.json()["message"].startswith("MFA required: log in with a second "
                                                     "factor (amr including one of ['otp']")
        assert (await client.get("/private")).status_code == 401
        assert client.logins == []


async def test_mfa_by_acr_and_no_roles_without_mapped_groups(people):
    async with browser(people, mfa_acr_values=["urn:spe:loa:high"], mfa_amr_methods=[]) \
            as client:
        assert (await complete_login(client, people, "carol")).status_code == 303
        assert (await client.get("/private")).json()["roles"] == []
        assert client.logins[0].acr == "urn:spe:loa:high"


async def test_login_asks_the_provider_for_the_api_audience_and_mfa(people):
    async with browser(people, mfa_acr_values=["urn:spe:loa:high"],
                       authorize_params={"prompt": "login"}) as client:
        started = await client.get("/auth/login")
    params = httpx.URL(started.headers["location"]).params
    assert params["code_challenge_method"] == "S256"
    assert params["resource"] == people.audience
    assert params["acr_values"] == "urn:spe:loa:high"
    assert params["redirect_uri"] == people.redirect_uri
    assert params["prompt"] == "login"


@pytest.mark.parametrize("client_id", [None, SIGNED_USERINFO_CLIENT_ID])
async def test_profile_claims_from_the_userinfo_endpoint(people, client_id, monkeypatch):
    """As ProConnect: the ID token holds little, userinfo (JSON or a signed JWT) the rest."""
    overrides = {"client_id": client_id} if client_id else {}
    verified: list[dict] = []
    check_signed = TokenValidator.userinfo
    monkeypatch.setattr(TokenValidator, "userinfo",
                        lambda self, token: verified.append(check_signed(self, token))
                        or verified[-1])
    async with browser(people, userinfo=True, audience=None,
                       scopes=["openid", "profile", "email", "groups"], **overrides) as client:
        assert (await complete_login(client, people, "alice")).status_code == 303
        assert (await client.get("/private")).json()["roles"] == ["researcher"]
    [identity] = client.logins
    assert (identity.name, identity.email) == ("Alice Martin", "alice@example.org")
    assert identity.mfa_satisfied
    assert [claims["sub"] for claims in verified] == (["alice"] if client_id else [])


async def test_the_session_gets_a_new_id_at_login(people):
    async with browser(people) as client:
        await client.get("/auth/login")
        before = client.cookies["spe_session"]
        await complete_login(client, people, "alice")
        assert client.cookies["spe_session"] != before


@pytest.mark.parametrize("next_", ["https://evil.example/", "//evil.example/x",
                                   "/\\evil.example", "javascript:alert(1)", "private"])
async def test_next_must_be_a_path_on_this_site(people, next_):
    async with browser(people) as client:
        response = await client.get("/auth/login", params={"next": next_})
    assert response.status_code == 400
    assert response.json()["code"] == "auth.oidc.bad_next"


async def test_next_is_where_the_login_ends(people):
    async with browser(people) as client:
        back = await start_login(client, people, "alice", next="/private?tab=2")
        callback = await client.get(back.headers["location"])
    assert callback.headers["location"] == "/private?tab=2"


async def test_callback_with_a_state_this_session_did_not_issue_is_refused(people):
    async with browser(people) as client:
        back = await start_login(client, people, "alice")
        url = httpx.URL(back.headers["location"])
        forged = url.copy_set_param("state", "not-the-state")
        response = await client.get(forged)
        assert response.status_code == 400
        assert response.json()["code"] == "auth.oidc.state_mismatch"
        missing = await client.get(url.copy_remove_param("state"))
        assert missing.status_code == 400
    async with browser(people) as other:  # another browser cannot complete this login
        assert (await other.get(url)).status_code == 400


async def test_a_nonce_other_than_the_one_stored_is_refused(people):
    async with browser(people) as client:
        started = await client.get("/auth/login")
        tampered = httpx.URL(started.headers["location"]).copy_set_param("nonce", "injected")
        back = await people.browser_login(client, await client.get(tampered), "alice")
        response = await client.get(back.headers["location"])
        assert response.status_code == 401
        assert response.json()["message"] == "nonce mismatch"
        assert (await client.get("/private")).status_code == 401


async def test_a_replayed_authorization_code_is_refused_by_the_provider(people):
    async with browser(people) as client:
        first = await start_login(client, people, "alice")
        code = httpx.URL(first.headers["location"]).params["code"]
        assert (await client.get(first.headers["location"])).status_code == 303
        # a second login in the same browser, answered with the old code
        second = await start_login(client, people, "alice")
        replay = httpx.URL(second.headers["location"]).copy_set_param("code", code)
        response = await client.get(replay)
    assert response.status_code == 400
    assert response.json() == {"code": "auth.oidc.code_refused", "message":
                               "the provider refused the authorization code: invalid_grant"}


async def test_the_provider_refuses_a_code_without_its_pkce_verifier(people):
    verifier = secrets.token_urlsafe(48)
    async with httpx.AsyncClient() as client:
        back = await people.authorize(client, "alice", verifier=verifier)
        code = httpx.URL(back.headers["location"]).params["code"]
        refused = await people.redeem(client, code, verifier=None)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        without_challenge = await people.authorize(client, "alice", verifier=None)
    params = httpx.URL(without_challenge.headers["location"]).params
    assert params["error"] == "invalid_request"
    assert "requires PKCE" in params["error_description"]


async def test_a_provider_error_at_the_callback_is_a_clean_400(people):
    async with browser(people) as client:
        started = await client.get("/auth/login")
        state = httpx.URL(started.headers["location"]).params["state"]
        response = await client.get("/auth/callback", params={
            "state": state, "error": "access_denied", "error_description": "user said no"})
    assert response.status_code == 400
    assert response.json()["message"] == "the provider refused the login: access_denied " \
                                         "(user said no)"


async def test_the_provider_refuses_an_unregistered_redirect_uri(people):
    async with browser(people, redirect_uri="http://evil.example/auth/callback") as client:
        started = await client.get("/auth/login")
        response = await people.browser_login(client, await client.get(
            started.headers["location"]), "alice")
    assert response.status_code == 400
    assert not response.is_redirect
    assert "redirect_uri" in response.text


async def test_logout_ends_both_sessions(people):
    async with browser(people) as client:
        await complete_login(client, people, "alice")
        response = await client.get("/auth/logout")
        assert response.status_code == 303
        end_session = httpx.URL(response.headers["location"])
        assert str(end_session.copy_with(query=None)) == f"{people.issuer}/session/end"
        assert end_session.params["post_logout_redirect_uri"] == f"{people.rp_base_url}/"
        assert end_session.params["id_token_hint"].count(".") == 2
        assert "spe_session" not in client.cookies
        assert (await client.get("/private")).status_code == 401
        provider_page = await client.get(end_session)
        assert provider_page.status_code == 200  # the provider's own logout confirmation
