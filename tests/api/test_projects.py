"""Project visibility: a researcher sees only projects whose active permit names them."""

from __future__ import annotations

import pytest

from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, make_user, permit_body


@pytest.fixture(scope="module")
def world(client, engine, tokens):
    manager = auth(tokens[Role.permit_manager])
    dataset = make_dataset(engine)
    alice, alice_token = make_user(engine, Role.researcher)
    bob, bob_token = make_user(engine, Role.researcher)

    def permit(members, **kw):
        r = client.post("/api/v1/permits", json=permit_body(dataset, members, **kw),
                        headers=manager)
        assert r.status_code == 201, r.text
        return r.json()

    return {
        "manager": manager, "alice": auth(alice_token), "bob": auth(bob_token),
        "alice_only": permit([alice]),
        "shared": permit([bob, alice]),
        "bob_only": permit([bob]),
        "alice_future": permit([alice], starts_in_days=10),
        "alice_suspended": permit([alice]),
    }


def ids(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["items"]}


def test_researcher_lists_only_their_active_projects(client, world):
    client.post(f"/api/v1/permits/{world['alice_suspended']['id']}/suspend",
                headers=world["manager"], json={"reason": "audit"})
    seen = ids(client.get("/api/v1/projects?limit=500", headers=world["alice"]))
    assert seen == {world["alice_only"]["project_id"], world["shared"]["project_id"]}
    seen_by_bob = ids(client.get("/api/v1/projects?limit=500", headers=world["bob"]))
    assert seen_by_bob == {world["shared"]["project_id"], world["bob_only"]["project_id"]}


def test_another_projects_id_is_not_found(client, world):
    response = client.get(f"/api/v1/projects/{world['bob_only']['project_id']}",
                          headers=world["alice"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "project.not_found"
    mine = client.get(f"/api/v1/projects/{world['alice_only']['project_id']}",
                      headers=world["alice"])
    assert mine.status_code == 200
    body = mine.json()
    assert body["desired_state"] == "ready" and body["permit_status"] == "granted"


def test_revocation_hides_the_project(client, world):
    project = world["shared"]["project_id"]
    client.post(f"/api/v1/permits/{world['shared']['id']}/revoke", headers=world["manager"],
                json={"reason": "ended"})
    assert client.get(f"/api/v1/projects/{project}", headers=world["bob"]).status_code == 404
    staff = client.get(f"/api/v1/projects/{project}", headers=world["manager"]).json()
    assert staff["desired_state"] == "deleted"


def test_pagination_walks_everything(client, world):
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/projects", params=params, headers=world["manager"]).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 5


def test_bad_cursor_is_422(client, world):
    response = client.get("/api/v1/projects?cursor=%%%", headers=world["manager"])
    assert response.status_code == 422
