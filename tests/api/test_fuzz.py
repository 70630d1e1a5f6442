"""Schemathesis over the whole OpenAPI document, on SQLite and on PostgreSQL (application role).

Every operation of the document gets generated requests: schemathesis's coverage phase
(the boundaries of each parameter and field, missing and null values, wrong types), then
random ones, valid and invalid (its fuzzing phase), each sent with the token of a role the
access table lets call it (the admin's where the admin may). Each answer must be no server
error and, for the API, conform to the document: status, media type, headers and body
schema. The web console's pages are held to no server error only: the document does not
describe them yet (HTML, 303 after a form; see test_openapi.py). The random examples per
operation are few (``EXAMPLES``) so the run fits in CI time; more by hand:
``SPE_FUZZ_EXAMPLES=200 python -m pytest tests/api/test_fuzz.py``.

Not checked: that schema-valid requests are accepted (random ids are 404, and a pagination
cursor the generator makes up is rightly refused).

Below the fuzzing, the defects it found, each as a plain test.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from spe.domain.roles import Role
from tests.api.test_route_roles import EXPECTED
from testsupport.factories import auth, make_dataset, permit_body

EXAMPLES = int(os.environ.get("SPE_FUZZ_EXAMPLES", "8"))
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_headers_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(client):
    config = schemathesis.Config.from_dict(
        {"phases": {"coverage": {"unexpected-methods": []}}})
    return schemathesis.openapi.from_asgi("/openapi.json", client.app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def caller(tokens, method: str, path: str) -> dict[str, str]:
    """The admin's token where the admin may call the route, else that of a role that may;
    the admin's for routes open to anyone or authenticated by their protocol."""
    allowed = EXPECTED[(method, path)]
    if isinstance(allowed, frozenset) and Role.admin not in allowed:
        return auth(tokens[sorted(allowed)[0]])
    return auth(tokens[Role.admin])


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
def test_every_operation(case, tokens):
    method, path = case.operation.method.upper(), case.operation.path
    console = path == "/" or path.startswith("/console/")
    case.call_and_validate(headers=caller(tokens, method, path),
                           checks=[not_a_server_error] if console else CONFORMANCE)


# -- what the fuzzing found -----------------------------------------------------------------

@pytest.fixture(scope="module")
def permit(client, engine, tokens) -> dict:
    dataset = make_dataset(engine)
    response = client.post("/api/v1/permits", json=permit_body(dataset, ["alice"]),
                           headers=auth(tokens[Role.permit_manager]))
    assert response.status_code == 201, response.text
    return response.json()


def test_amendment_with_null_terms_changes_nothing(client, tokens, permit):
    """``"members": null`` answered 500 (the members validator iterated None); a null term
    is now a term left as it is."""
    url = f"/api/v1/permits/{permit['id']}/amend"
    manager = auth(tokens[Role.permit_manager])
    response = client.post(url, headers=manager, json={"members": None, "purpose": None,
                                                       "reason": "nothing"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "permit.empty_amendment"
    response = client.post(url, headers=manager, json={
        "members": None, "purpose": None, "project_title": "Renamed", "reason": "title"})
    assert response.status_code == 200, response.text
    amended = response.json()
    assert amended["purpose"] == permit["purpose"]
    assert amended["members"] == permit["members"]
    assert amended["project_title"] == "Renamed"


@pytest.mark.parametrize("body", [b"\xff\xfe{", b"{\"reason\": "])
def test_unparsable_body_is_a_documented_400(client, tokens, permit, body):
    """A body that is not JSON answers 400, which the document did not list."""
    path = "/api/v1/permits/{permit_id}/suspend"
    response = client.post(path.format(permit_id=permit["id"]), content=body, headers={
        **auth(tokens[Role.permit_manager]), "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    documented = client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    assert str(response.status_code) in documented


@pytest.mark.parametrize("path,query", [
    ("/api/v1/audit/events", {"actor": "nobody-at-all"}),
    ("/api/v1/audit/consistency", {"from": 1, "to": 2}),
])
def test_audit_not_found_is_documented(client, tokens, path, query):
    """The audit search (unknown actor) and the consistency proof (no checkpoint at a size)
    answer 404, which the document did not list."""
    response = client.get(path, params=query, headers=auth(tokens[Role.auditor]))
    assert response.status_code == 404, response.text
    assert "404" in client.get("/openapi.json").json()["paths"][path]["get"]["responses"]
