"""The admin's pages: people with their roles, granting and revoking a role, deactivating
(the person's session stops at once); permit managers and auditors read, others are refused."""

from __future__ import annotations

from spe.domain.roles import Role
from tests.console.conftest import HTML, Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import auth, make_user


def user_id(client, admin_token: str, subject: str) -> str:
    users = client.get("/api/v1/users", params={"limit": 500},
                       headers=auth(admin_token)).json()["items"]
    return next(u["id"] for u in users if u["subject"] == subject)


def roles(client, admin_token: str, uid: str) -> list[str]:
    return client.get(f"/api/v1/users/{uid}", headers=auth(admin_token)).json()["roles"]


def test_grant_revoke_deactivate(app, engine, client):
    admin_token = make_user(engine, Role.admin)[1]
    carol, carol_token = make_user(engine, Role.researcher)
    carol_browser = Browser(app, carol_token)
    uid = user_id(client, admin_token, carol)
    admin = Browser(app, admin_token)
    listing = admin.get("/console/users")
    assert listing.status_code == 200 and carol in listing.text
    assert_strict(listing.text)
    page = admin.get(f"/console/users/{uid}")
    assert page.status_code == 200 and "Grant a role" in page.text
    assert_strict(page.text)
    assert admin.post(f"/console/users/{uid}/roles", {"role": "auditor"}, csrf=False) \
        .status_code == 403
    assert admin.post(f"/console/users/{uid}/roles", {"role": "auditor"}).status_code == 303
    assert sorted(roles(client, admin_token, uid)) == ["auditor", "researcher"]
    assert admin.post(f"/console/users/{uid}/roles/auditor/revoke").status_code == 303
    assert roles(client, admin_token, uid) == ["researcher"]
    assert admin.post(f"/console/users/{uid}/roles", {"role": "wizard"}).status_code == 422
    assert carol_browser.get("/").status_code == 200
    assert admin.post(f"/console/users/{uid}/active", {"active": "false"}).status_code == 303
    assert carol_browser.get("/").status_code == 303  # signed out: sent to sign in
    assert admin.post(f"/console/users/{uid}/active", {"active": "true"}).status_code == 303


def test_readers_and_others(app, engine, client):
    admin_token = make_user(engine, Role.admin)[1]
    subject, _ = make_user(engine, Role.researcher)
    uid = user_id(client, admin_token, subject)
    pm = Browser(app, make_user(engine, Role.permit_manager)[1])
    page = pm.get(f"/console/users/{uid}")
    assert page.status_code == 200 and "Grant a role" not in page.text
    assert pm.post(f"/console/users/{uid}/roles", {"role": "admin"}).status_code == 403
    researcher = Browser(app, make_user(engine, Role.researcher)[1])
    assert researcher.get("/console/users").status_code == 403
    assert researcher.http.get("/console/users", headers=HTML).status_code == 403


def test_an_admin_adds_a_person_with_roles(app, engine, client):
    admin_token = make_user(engine, Role.admin)[1]
    admin = Browser(app, admin_token)
    listing = admin.get("/console/users")
    assert "Add a person" in listing.text
    subject = "dr-" + admin_token[-8:].lower()
    form = {"subject": subject, "display_name": "Dr Martin", "email": "martin@example.org",
            "roles": ["researcher", "output_checker"]}
    assert admin.post("/console/users", form, csrf=False).status_code == 403
    added = admin.post("/console/users", form)
    assert added.status_code == 303, added.text
    uid = user_id(client, admin_token, subject)
    assert added.headers["location"] == f"/console/users/{uid}"
    assert sorted(roles(client, admin_token, uid)) == ["output_checker", "researcher"]
    again = admin.post("/console/users", form)
    assert again.status_code == 409 and "text/html" in again.headers["content-type"]
    bad = admin.post("/console/users", {**form, "subject": "x-" + subject, "email": "nope"})
    assert bad.status_code == 422 and "email" in bad.text
    manager = Browser(app, make_user(engine, Role.permit_manager)[1])
    assert "Add a person" not in manager.get("/console/users").text
    assert manager.post("/console/users", {**form, "subject": "y-" + subject}
                        ).status_code == 403


def test_an_admin_sees_and_revokes_a_persons_token(app, engine, client):
    admin_token = make_user(engine, Role.admin)[1]
    carol, carol_token = make_user(engine, Role.researcher)
    uid = user_id(client, admin_token, carol)
    listed = client.get(f"/api/v1/users/{uid}/tokens", headers=auth(admin_token)).json()
    (token,) = listed["items"]
    assert "token" not in token and token["revoked_at"] is None  # never the secret
    admin = Browser(app, admin_token)
    page = admin.get(f"/console/users/{uid}")
    assert token["id"] in page.text and "Personal tokens" in page.text
    assert_strict(page.text)
    url = f"/console/users/{uid}/tokens/{token['id']}/revoke"
    assert admin.post(url, csrf=False).status_code == 403
    assert admin.post(url).status_code == 303
    assert client.get("/api/v1/me", headers=auth(carol_token)).status_code == 401
    assert admin.post(url).status_code == 409  # already revoked, and said so
    other = make_user(engine, Role.researcher)[0]
    elsewhere = f"/console/users/{user_id(client, admin_token, other)}/tokens/{token['id']}/revoke"
    assert admin.post(elsewhere).status_code == 404  # not this person's token
    manager = Browser(app, make_user(engine, Role.permit_manager)[1])
    assert manager.post(url).status_code == 403
    assert client.delete(f"/api/v1/users/{uid}/tokens/{token['id']}",
                         headers=auth(admin_token)).status_code == 409
