"""The control plane as a project hub's OpenID provider: the hub-side authorization code
flow with PKCE, and every refusal (each audited)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlmodel import Session, select

from spe.audit import Actor
from spe.audit.models import AuditEvent
from spe.auth.hub_clients import register_hub_client, set_redirect_uri
from spe.auth.tokens import issue_token
from spe.db import session_scope
from spe.domain.roles import Role
from spe.domain.users import find_by_subject
from testsupport.factories import auth, make_dataset, make_user, permit_body

BASE = "http://127.0.0.1:8000"
CALLBACK = "http://127.0.0.1:9999/hub/oauth_callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def browser(app, token: str) -> TestClient:
    """A browser signed in to spe with ``token`` (through the sign-in page)."""
    b = TestClient(app, base_url=BASE)
    page = b.get("/auth/login?next=/api/v1/me")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    done = b.post("/auth/token-login", data={"token": token, "csrf": csrf,
                                             "next": "/api/v1/me"})
    assert done.status_code == 200 and "subject" in done.json(), done.text
    return b


def hub_client(engine, app, project_id: str) -> dict:
    with session_scope(engine) as s:
        creds = register_hub_client(s, app.state.platform.secret_box, project_id,
                                    actor=Actor.system("tests"))
        set_redirect_uri(s, project_id, CALLBACK, actor=Actor.system("tests"))
    return {"client_id": creds.client_id, "secret": creds.client_secret}


@pytest.fixture(scope="module")
def world(client, engine, tokens):
    app = client.app
    manager = auth(tokens[Role.permit_manager])
    dataset = make_dataset(engine)
    alice, alice_token = make_user(engine, Role.researcher)
    bob, bob_token = make_user(engine, Role.researcher)
    carol, carol_token = make_user(engine, Role.researcher)

    def project(members):
        r = client.post("/api/v1/permits", json=permit_body(dataset, members), headers=manager)
        assert r.status_code == 201, r.text
        permit = r.json()
        return {"permit": permit, **hub_client(engine, app, permit["project_id"])}

    return {"app": app, "manager": manager, "alice": (alice, alice_token),
            "bob": (bob, bob_token), "carol": (carol, carol_token),
            "p1": project([alice]), "p2": project([carol])}


def authorize(b: TestClient, hub: dict, challenge: str | None, state: str = "st4te"):
    params = {"response_type": "code", "client_id": hub["client_id"],
              "redirect_uri": CALLBACK, "scope": "openid profile", "state": state}
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return b.get("/oauth/authorize", params=params, follow_redirects=False)


def redirected(response) -> dict:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def refused(response, reason: str) -> str:
    """spe's own page with the reason (not a redirect to the hub with access_denied)."""
    assert response.status_code == 403, response.text
    assert "location" not in response.headers
    text = html.unescape(response.text)
    assert f"Why: {reason}." in text, text
    return text


def exchange(b: TestClient, hub: dict, code: str, verifier: str | None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    if verifier:
        data["code_verifier"] = verifier
    return b.post("/oauth/token", data=data, auth=(hub["client_id"], hub["secret"]))


def denials(engine, project_id: str) -> list[tuple[str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.project_id == project_id,
                                               AuditEvent.outcome == "denied")
                      .order_by(AuditEvent.seq))
        return [(e.actor_id, e.details.get("reason")) for e in rows]


def test_permitted_researcher_gets_identity_and_project(world):
    hub = world["p1"]
    b = browser(world["app"], world["alice"][1])
    verifier, challenge = pkce()
    params = redirected(authorize(b, hub, challenge))
    assert params["state"] == "st4te"
    token = exchange(b, hub, params["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"].lower() == "bearer" and body["expires_in"] <= 300
    info = b.get("/oauth/userinfo", headers=auth(body["access_token"])).json()
    assert info["sub"] == world["alice"][0]
    assert info["project"] == hub["permit"]["project_id"]

    keys = KeySet.import_key_set(b.get("/oauth/jwks").json())
    id_token = jwt.decode(body["id_token"], keys)
    assert id_token.claims["iss"] == BASE and id_token.claims["aud"] == [hub["client_id"]]
    assert id_token.claims["sub"] == world["alice"][0]

    replay = exchange(b, hub, params["code"], verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("who,project,reason", [
    ("bob", "p1", "not named in the project's permit"),
    ("carol", "p1", "not named in the project's permit"),
])
def test_unlisted_and_other_project_users_are_refused(world, engine, who, project, reason):
    hub = world[project]
    b = browser(world["app"], world[who][1])
    _, challenge = pkce()
    page = refused(authorize(b, hub, challenge), "you are not named in this project's permit")
    assert "principal investigator" in page
    assert hub["permit"]["reference"] not in page  # the project stays invisible to them
    user_id = b.get("/api/v1/me").json()["id"]
    assert (user_id, reason) in denials(engine, hub["permit"]["project_id"])


def test_pkce_is_required_and_checked(world):
    hub = world["p1"]
    b = browser(world["app"], world["alice"][1])
    missing = redirected(authorize(b, hub, None))
    assert missing["error"] == "invalid_request"
    _, challenge = pkce()
    params = redirected(authorize(b, hub, challenge))
    assert exchange(b, hub, params["code"], None).json()["error"] == "invalid_request"
    params = redirected(authorize(b, hub, challenge))
    wrong = exchange(b, hub, params["code"], "x" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_unregistered_redirect_is_never_followed(world):
    hub = world["p1"]
    b = browser(world["app"], world["alice"][1])
    _, challenge = pkce()
    response = b.get("/oauth/authorize", follow_redirects=False, params={
        "response_type": "code", "client_id": hub["client_id"],
        "redirect_uri": "https://evil.example/cb", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert response.status_code == 400
    assert "evil.example" not in response.headers.get("location", "")


def test_wrong_client_secret_is_refused(world):
    hub = world["p1"]
    b = browser(world["app"], world["alice"][1])
    verifier, challenge = pkce()
    params = redirected(authorize(b, hub, challenge))
    response = b.post("/oauth/token", auth=(hub["client_id"], "nope"), data={
        "grant_type": "authorization_code", "code": params["code"],
        "redirect_uri": CALLBACK, "code_verifier": verifier})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_signed_out_browser_is_sent_to_sign_in(world):
    b = TestClient(world["app"], base_url=BASE)
    _, challenge = pkce()
    response = authorize(b, world["p1"], challenge)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login?next=%2Foauth%2Fauthorize")


def test_suspension_stops_hub_tokens_and_new_logins(world, engine, client):
    hub = world["p2"]
    b = browser(world["app"], world["carol"][1])
    verifier, challenge = pkce()
    params = redirected(authorize(b, hub, challenge))
    access = exchange(b, hub, params["code"], verifier).json()["access_token"]
    assert b.get("/oauth/userinfo", headers=auth(access)).status_code == 200

    permit_id = hub["permit"]["id"]
    client.post(f"/api/v1/permits/{permit_id}/suspend", headers=world["manager"],
                json={"reason": "incident"})
    stale = b.get("/oauth/userinfo", headers=auth(access))
    assert stale.status_code == 401
    assert "suspended" in stale.json()["error_description"]
    page = refused(authorize(b, hub, challenge), "the permit is suspended")
    assert hub["permit"]["reference"] in page and "Granted by" in page
    client.post(f"/api/v1/permits/{permit_id}/revoke", headers=world["manager"],
                json={"reason": "ended"})
    reasons = [r for _, r in denials(engine, hub["permit"]["project_id"])]
    assert "the permit is suspended" in reasons


def test_mfa_is_required_for_workspaces(world, engine, client):
    subject, _ = make_user(engine, Role.researcher)
    permit = client.post("/api/v1/permits", headers=world["manager"], json=permit_body(
        make_dataset(engine), [subject])).json()
    hub = hub_client(engine, world["app"], permit["project_id"])
    with session_scope(engine) as s:
        user = find_by_subject(s, subject)
        _, weak = issue_token(s, ttl=timedelta(hours=1), actor=Actor.system("tests"),
                              user_id=user.id, mfa=False)  # issued without a second factor
    b = browser(world["app"], weak)
    _, challenge = pkce()
    page = refused(authorize(b, hub, challenge),
                   "MFA required: sign in again with a second factor")
    assert "/auth/login?next=%2Foauth%2Fauthorize" in page
    reasons = [r for _, r in denials(engine, permit["project_id"])]
    assert reasons == ["MFA required: sign in again with a second factor"]


@pytest.mark.parametrize("ending,reason", [
    ("revoke", "the permit is revoked"),
    ("remove", "not named in the project's permit"),
])
def test_revoked_permit_or_removed_person_is_refused(world, engine, client, ending, reason):
    subject, token = make_user(engine, Role.researcher)
    permit = client.post("/api/v1/permits", headers=world["manager"], json=permit_body(
        make_dataset(engine), [subject, "someone-else"])).json()
    hub = hub_client(engine, world["app"], permit["project_id"])
    b = browser(world["app"], token)
    verifier, challenge = pkce()
    code = redirected(authorize(b, hub, challenge))["code"]
    access = exchange(b, hub, code, verifier).json()["access_token"]
    if ending == "revoke":
        client.post(f"/api/v1/permits/{permit['id']}/revoke", headers=world["manager"],
                    json={"reason": "breach"})
    else:
        client.post(f"/api/v1/permits/{permit['id']}/amend", headers=world["manager"],
                    json={"members": ["someone-else"], "principal_investigator": "someone-else",
                          "reason": "left the team"})
    refused(authorize(b, hub, challenge), {"revoke": "the permit is revoked",
                                           "remove": "you are not named in this project's "
                                                     "permit"}[ending])
    assert b.get("/oauth/userinfo", headers=auth(access)).status_code == 401
    user_id = b.get("/api/v1/me").json()["id"]
    assert [r for u, r in denials(engine, permit["project_id"]) if u == user_id] == [reason,
                                                                                      reason]


def test_a_suspended_workspace_address_leads_to_the_reason(world, engine, client):
    """Where the local runtime sends browsers while the hub is stopped: the reason for this
    person, the permit's contacts for its members only, and a way back once resumed."""
    subject, token = make_user(engine, Role.researcher)
    permit = client.post("/api/v1/permits", headers=world["manager"], json=permit_body(
        make_dataset(engine), [subject])).json()
    page = f"/workspaces/{permit['project_id']}/closed"
    client.post(f"/api/v1/permits/{permit['id']}/suspend", headers=world["manager"],
                json={"reason": "incident"})
    member = refused(browser(world["app"], token).get(page), "the permit is suspended")
    assert permit["reference"] in member and subject in member
    outsider = refused(browser(world["app"], world["bob"][1]).get(page),
                       "you are not named in this project's permit")
    assert permit["reference"] not in outsider
    signed_out = TestClient(world["app"], base_url=BASE).get(page, follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/auth/login?next=%2Fworkspaces%2F")
    client.post(f"/api/v1/permits/{permit['id']}/resume", headers=world["manager"],
                json={"reason": "cleared"})
    reopened = browser(world["app"], token).get(page)
    assert reopened.status_code == 200 and "open again" in reopened.text
