"""The OpenAPI document says what each route can answer, and the request models are strict.

The statuses a route must document are derived from the route access table
(tests/api/test_route_roles.py), not from the code that adds them: 401 and 403 where
credentials are needed, 404 with path parameters, 409 and 413 on state changes, 422
everywhere (the input guard). Then every route is called (anonymous, every role, unknown
ids, a NUL) and every status and media type it answers must be in the document.
"""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel, ValidationError

from spe.domain.roles import Role
from tests.api.test_route_roles import (
    ANYONE,
    BROWSER,
    EXPECTED,
    PROTOCOL,
    api_routes,
    concrete,
    routes,
)
from testsupport.factories import auth, make_user

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
ERROR_REF = "#/components/schemas/Error"
OAUTH_REF = "#/components/schemas/OAuthError"


def operations(client):
    spec = client.get("/openapi.json").json()
    return spec, {(m.upper(), p): op for p, ops in spec["paths"].items()
                  for m, op in ops.items()}


def required_statuses(method: str, path: str) -> set[int]:
    expected = EXPECTED[(method, path)]
    statuses = {422}
    if expected not in (ANYONE, BROWSER, PROTOCOL):
        statuses |= {401, 403}
    if expected == PROTOCOL:
        statuses.add(401)
    if "{" in path:
        statuses.add(404)
    if method in CHANGING:
        statuses |= {409, 413}
    return statuses


def test_every_operation_documents_its_error_statuses(client):
    spec, ops = operations(client)
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]
    for (method, path), op in ops.items():
        documented = {int(s) for s in op["responses"]}
        missing = required_statuses(method, path) - documented
        assert not missing, (method, path, missing)
        for status, response in op["responses"].items():
            if int(status) >= 400:
                content = response.get("content", {})
                body = content.get("application/json", {}).get("schema", {})
                refs = [body.get("$ref")] + [s.get("$ref") for s in body.get("anyOf", [])]
                assert "text/html" in content or ERROR_REF in refs or \
                    refs == [OAUTH_REF], (method, path, status)


CONSOLE = "/console/"  # the web console's pages: not yet described (HTML, 303 after a form)


def calls(client, tokens):
    """(method, template, response) of every API route, called in several ways."""
    for method, path in routes(client):
        if path.startswith(CONSOLE):
            continue
        url = concrete(path)
        body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        yield method, path, client.request(method, url, follow_redirects=False, **body)
        yield method, path, client.request(method, url, params={"q": "\x00"},
                                           follow_redirects=False)
        for role in Role:
            yield method, path, client.request(method, url, headers=auth(tokens[role]),
                                               follow_redirects=False, **body)


def test_every_answer_is_documented(client, tokens):
    _, ops = operations(client)
    for method, path, response in calls(client, tokens):
        where = (method, path, response.status_code)
        documented = ops[(method, path)]["responses"]
        assert str(response.status_code) in documented, (where, response.text[:200])
        kind = response.headers.get("content-type", "").split(";")[0]
        if kind and response.status_code not in (204, 302, 303):
            assert kind in documented[str(response.status_code)].get("content", {}), \
                (where, kind)


def test_sign_in_page_is_documented_as_html(client):
    _, ops = operations(client)
    assert list(ops[("GET", "/auth/login")]["responses"]["200"]["content"]) == ["text/html"]
    responses = ops[("POST", "/auth/token-login")]["responses"]
    assert "text/html" in responses["401"]["content"] and "303" in responses


# -- strict request bodies ------------------------------------------------------------------

LOOSE = {bool: [0, 1, "true", "false", "0"], int: ["1", 1.0, True], float: ["1.5", True]}


def _flat(annotation) -> list:
    found = [annotation]
    for arg in typing.get_args(annotation):
        found += _flat(arg)
    return found


def body_models(app) -> set[type[BaseModel]]:
    models: set[type[BaseModel]] = set()

    def walk(model):
        if model in models:
            return
        models.add(model)
        for field in model.model_fields.values():
            for kind in _flat(field.annotation):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    walk(kind)

    for route in api_routes(app):
        for param in route.dependant.body_params:
            for kind in _flat(param.field_info.annotation):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    walk(kind)
    return models


def test_request_bodies_refuse_loose_scalars(client):
    checked = 0
    for model in body_models(client.app):
        for name, field in model.model_fields.items():
            kinds = set(_flat(field.annotation)) & set(LOOSE)
            for kind in kinds:
                for value in LOOSE[kind]:
                    if any(isinstance(value, k) and type(value) is k for k in kinds):
                        continue  # a value of an admitted type (an int where int|float)
                    with pytest.raises(ValidationError) as refused:
                        model.model_validate({name: value})
                    assert any(e["loc"][:1] == (name,) for e in refused.value.errors()), \
                        (model.__name__, name, value)
                    checked += 1
    assert checked >= 5


def test_active_zero_is_not_a_deactivation(client, engine, tokens):
    subject, _ = make_user(engine, Role.researcher)
    users = client.get("/api/v1/users", params={"limit": 500},
                       headers=auth(tokens[Role.admin])).json()["items"]
    user = next(u for u in users if u["subject"] == subject)
    for value in (0, 1, "false", "no"):
        response = client.patch(f"/api/v1/users/{user['id']}", json={"active": value},
                                headers=auth(tokens[Role.admin]))
        assert response.status_code == 422, (value, response.text)
    read = client.get(f"/api/v1/users/{user['id']}", headers=auth(tokens[Role.admin]))
    assert read.json()["active"] is True
    assert re.match(r"^active: ", client.patch(
        f"/api/v1/users/{user['id']}", json={"active": 0},
        headers=auth(tokens[Role.admin])).json()["error"]["message"])
