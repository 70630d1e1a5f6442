"""Input the databases cannot hold is refused with 422 on every route, before anything else.

Walks every route of the application as served and sends, one at a time: a NUL in each
path parameter, in each query parameter, in a JSON body and in a form body; an integer of
2**63 in each integer parameter and in a JSON body; a time in year 1 in each time parameter.
Each must answer 422 ``input.unrepresentable`` (with or without credentials: the check runs
before authentication). The edges that are representable (±(2**63 - 1), years 2 and 9998)
must not answer 500. On PostgreSQL these used to be server errors.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from spe.api.input_guard import kinds, route_params
from spe.domain.roles import Role
from tests.api.test_route_roles import EXPECTED, PATH_VALUES, api_routes
from testsupport.factories import auth

NUL = "a\x00b"
BIG = 2**63
YEAR_ONE = "0001-01-01T00:30:00+01:00"
EDGES_INT = [str(2**63 - 1), str(-(2**63))]
EDGES_TIME = ["0002-01-01T00:00:00Z", "9998-12-31T00:00:00Z"]
BODY = ("POST", "PUT", "PATCH")


def cases(app):
    """(method, route path, concrete path, query params, JSON, form) to refuse."""
    for route in api_routes(app):
        _, query_params = route_params(route.dependant)
        names = re.findall(r"\{(\w+)\}", route.path)
        for method in sorted(route.methods):
            def path(bad: str | None = None, route=route, names=names) -> str:
                values = {n: PATH_VALUES.get(n, "does-not-exist") for n in names}
                if bad is not None:
                    values[bad] = "a%00b"  # as a client sends it
                return route.path.format(**values)

            yield method, route.path, path(), {"client_id": NUL}, None, None  # read raw
            for name in names:
                yield method, route.path, path(name), {}, None, None
            for field in query_params:
                admitted = kinds(field.field_info.annotation)
                yield method, route.path, path(), {field.alias: NUL}, None, None
                if int in admitted:
                    for big in (str(BIG), "9" * 5000, "-" + str(BIG + 1)):
                        yield method, route.path, path(), {field.alias: big}, None, None
                if admitted & {datetime, date}:
                    yield method, route.path, path(), {field.alias: YEAR_ONE}, None, None
            if method in BODY:
                yield method, route.path, path(), {}, {"reason": NUL, "x": [{NUL: 1}]}, None
                yield method, route.path, path(), {}, {"n": BIG}, None
                yield method, route.path, path(), {}, None, {"grant_type": NUL}


def token_for(tokens, method: str, path: str) -> str:
    expected = EXPECTED[(method, path)]
    role = sorted(expected)[0] if isinstance(expected, frozenset) else Role.admin
    return tokens[role]


def test_every_route_refuses_unrepresentable_input(client, tokens):
    checked = set()
    for method, template, path, query, body, form in cases(client.app):
        for headers in ({}, auth(token_for(tokens, method, template))):
            response = client.request(method, path, params=query, json=body, data=form,
                                      headers=headers)
            assert response.status_code == 422, (method, path, query, body, form,
                                                  response.status_code, response.text)
            assert response.json()["error"]["code"] == "input.unrepresentable"
        checked.add((method, template))
    assert checked == set(EXPECTED), "routes without a case"


def test_representable_edges_are_served(client, tokens):
    for route in api_routes(client.app):
        path_params, query_params = route_params(route.dependant)
        for method in route.methods:
            headers = auth(token_for(tokens, method, route.path))
            for field in query_params + path_params:
                admitted = kinds(field.field_info.annotation)
                values = (EDGES_INT if int in admitted else []) + \
                    (EDGES_TIME if admitted & {datetime, date} else [])
                for value in values:
                    params = {n: PATH_VALUES.get(n, "does-not-exist")
                              for n in re.findall(r"\{(\w+)\}", route.path)}
                    query = {}
                    if field in path_params:
                        params[field.alias] = value
                    else:
                        query[field.alias] = value
                    response = client.request(method, route.path.format(**params),
                                              params=query, headers=headers)
                    assert response.status_code < 500, (method, route.path, field.alias,
                                                        value, response.text)


@pytest.mark.parametrize("text", ["a\x00b", "\x00"])
def test_unauthenticated_token_endpoint_refuses_nul(client, text):
    response = client.post("/oauth/token", data={"grant_type": "authorization_code",
                                                  "code": text})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "input.unrepresentable"
