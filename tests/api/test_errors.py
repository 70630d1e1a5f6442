"""Bad input gets a precise 4xx in one JSON shape, never a 500, never an echo of secrets."""

from __future__ import annotations

import pytest

from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, permit_body


@pytest.fixture(scope="module")
def manager(tokens):
    return auth(tokens[Role.permit_manager])


@pytest.mark.parametrize("mutate,where", [
    (lambda b: b.pop("reference"), "reference"),
    (lambda b: b.update(reference="../../etc"), "reference"),
    (lambda b: b.update(valid_until="not a date"), "valid_until"),
    (lambda b: b.update(valid_from="2026-01-01T00:00:00"), "valid_from"),  # naive
    (lambda b: b.update(members=[]), "members"),
    (lambda b: b.update(members=["alice; DROP TABLE users"]), "members"),
    (lambda b: b.update(datasets=[{"dataset": "x", "variables": []}]), "datasets"),
    (lambda b: b.update(valid_until=b["valid_from"]), "valid_until"),
])
def test_invalid_permit_is_422(client, engine, manager, mutate, where):
    body = permit_body(make_dataset(engine), ["alice"])
    mutate(body)
    response = client.post("/api/v1/permits", json=body, headers=manager)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert where in error["message"] or any(where in map(str, d["loc"])
                                            for d in error["details"])


def test_malformed_json_is_422(client, manager):
    response = client.post("/api/v1/permits", content=b"{not json",
                           headers={**manager, "content-type": "application/json"})
    assert response.status_code == 422


def test_submitted_values_are_not_echoed(client, tokens):
    response = client.post("/api/v1/users", json={"subject": "x" * 500,
                                                  "email": "super-secret-value"},
                           headers=auth(tokens[Role.admin]))
    assert response.status_code == 422
    assert "super-secret-value" not in response.text




def test_unknown_route_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "http_404"


def test_wrong_method_is_405(client, manager):
    response = client.put("/api/v1/permits", headers=manager)
    assert response.status_code == 405


def test_request_and_trace_ids(client, manager):
    response = client.get("/api/v1/permits", headers={**manager,
                                                      "X-Request-ID": "req-12345678"})
    assert response.headers["x-request-id"] == "req-12345678"
    assert len(response.headers["x-trace-id"]) == 32
    fresh = client.get("/api/v1/permits", headers={**manager, "X-Request-ID": "bad id!"})
    assert fresh.headers["x-request-id"] != "bad id!"


def test_health(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
