"""Users, role grants, personal tokens and the dataset catalogue through the API."""

from __future__ import annotations

from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, make_user, permit_body, unique


def test_user_and_roles(client, tokens):
    admin = auth(tokens[Role.admin])
    subject = unique("carol")
    created = client.post("/api/v1/users", headers=admin, json={
        "subject": subject, "display_name": "Carol", "email": "carol@example.org",
        "roles": ["researcher"]})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["roles"] == ["researcher"]
    assert client.post("/api/v1/users", headers=admin,
                       json={"subject": subject}).status_code == 409
    granted = client.put(f"/api/v1/users/{user['id']}/roles/auditor", headers=admin).json()
    assert granted["roles"] == ["auditor", "researcher"]
    assert client.put(f"/api/v1/users/{user['id']}/roles/auditor",
                      headers=admin).status_code == 409
    revoked = client.delete(f"/api/v1/users/{user['id']}/roles/researcher",
                            headers=admin).json()
    assert revoked["roles"] == ["auditor"]
    assert client.put(f"/api/v1/users/{user['id']}/roles/wizard",
                      headers=admin).status_code == 422


def test_deactivated_user_token_stops_working(client, engine, tokens):
    admin = auth(tokens[Role.admin])
    subject, token = make_user(engine, Role.researcher)
    me = client.get("/api/v1/me", headers=auth(token)).json()
    assert me["subject"] == subject and me["roles"] == ["researcher"]
    client.patch(f"/api/v1/users/{me['id']}", headers=admin, json={"active": False})
    assert client.get("/api/v1/me", headers=auth(token)).status_code == 401


def test_personal_tokens(client, engine):
    _, token = make_user(engine, Role.auditor)
    created = client.post("/api/v1/me/tokens", headers=auth(token),
                          json={"description": "ci", "expires_in_hours": 1})
    assert created.status_code == 201
    second = created.json()
    assert second["token"].startswith("spe_")
    assert client.get("/api/v1/me", headers=auth(second["token"])).status_code == 200
    listed = client.get("/api/v1/me/tokens", headers=auth(token)).json()["items"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert client.delete(f"/api/v1/me/tokens/{second['id']}",
                         headers=auth(token)).status_code == 204
    assert client.get("/api/v1/me", headers=auth(second["token"])).status_code == 401


def test_cannot_revoke_someone_elses_token(client, engine):
    _, mine = make_user(engine, Role.auditor)
    _, theirs = make_user(engine, Role.auditor)
    their_id = client.get("/api/v1/me/tokens", headers=auth(theirs)).json()["items"][0]["id"]
    assert client.delete(f"/api/v1/me/tokens/{their_id}",
                         headers=auth(mine)).status_code == 404


def test_dataset_catalogue(client, engine, tokens):
    steward = auth(tokens[Role.data_steward])
    name = unique("sndsx")
    body = {"name": name, "holder": "CNAM", "variables": [
        {"name": "nir", "classification": "direct_identifier"},
        {"name": "age", "type": "integer", "classification": "quasi_identifier"}]}
    assert client.post("/api/v1/datasets", headers=steward, json=body).status_code == 201
    assert client.post("/api/v1/datasets", headers=steward, json=body).status_code == 409
    dup = {**body, "name": unique("dup"), "variables": body["variables"] * 2}
    assert client.post("/api/v1/datasets", headers=steward, json=dup).status_code == 422
    bad = {**body, "name": unique("bad"),
           "variables": [{"name": "x", "classification": "secret-ish"}]}
    assert client.post("/api/v1/datasets", headers=steward, json=bad).status_code == 422
    updated = client.patch(f"/api/v1/datasets/{name}", headers=steward,
                           json={"description": "Synthetic"}).json()
    assert updated["description"] == "Synthetic"


def test_dataset_in_use_is_protected(client, engine, tokens):
    steward = auth(tokens[Role.data_steward])
    dataset = make_dataset(engine)
    client.post("/api/v1/permits", json=permit_body(dataset, ["alice"]),
                headers=auth(tokens[Role.permit_manager]))
    response = client.patch(f"/api/v1/datasets/{dataset}", headers=steward, json={
        "variables": [{"name": "cost", "classification": "other"}]})
    assert response.status_code == 409
    assert "patient_id" in response.json()["error"]["message"]
    assert client.delete(f"/api/v1/datasets/{dataset}", headers=steward).status_code == 409
