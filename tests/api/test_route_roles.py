"""Every route of the OpenAPI document, called with a token of every role.

``EXPECTED`` is the access table of the API. A route missing from it fails the test, so a new
route cannot ship without saying who may call it; a role outside a route's set must get 403,
a role inside it must get past authorisation (any answer but 401/403).
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts

from spe.domain.roles import Role
from testsupport.factories import auth

A, PM, DS, R, OC, AU = (Role.admin, Role.permit_manager, Role.data_steward, Role.researcher,
                        Role.output_checker, Role.auditor)
EVERYONE = frozenset(Role)
ANYONE = "anyone"  # no credentials at all
PERSON = "person"  # any signed-in person, whatever their roles
BROWSER = "browser"  # a browser, signed in or not: the route redirects or refuses itself
PROTOCOL = "protocol"  # authenticated by the protocol itself (OAuth2 client, hub token)
OPEN_KINDS = {ANYONE: "anyone", BROWSER: "browser", PROTOCOL: "protocol"}
HUB = "hub"  # a project hub's service token only; every person is refused
COMPONENTS = "components"  # a hub's or the object storage's service token

EXPECTED: dict[tuple[str, str], frozenset | str] = {
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("GET", "/api/v1/me"): PERSON,
    ("GET", "/api/v1/me/tokens"): PERSON,
    ("POST", "/api/v1/me/tokens"): PERSON,
    ("DELETE", "/api/v1/me/tokens/{token_id}"): PERSON,
    ("GET", "/api/v1/users"): frozenset({A, PM, AU}),
    ("POST", "/api/v1/users"): frozenset({A}),
    ("GET", "/api/v1/users/{user_id}"): frozenset({A, PM, AU}),
    ("PATCH", "/api/v1/users/{user_id}"): frozenset({A}),
    ("PUT", "/api/v1/users/{user_id}/roles/{role}"): frozenset({A}),
    ("DELETE", "/api/v1/users/{user_id}/roles/{role}"): frozenset({A}),
    ("GET", "/api/v1/users/{user_id}/tokens"): frozenset({A, PM, AU}),
    ("DELETE", "/api/v1/users/{user_id}/tokens/{token_id}"): frozenset({A}),
    ("GET", "/api/v1/datasets"): frozenset({A, DS, PM, AU}),
    ("POST", "/api/v1/datasets"): frozenset({A, DS}),
    ("GET", "/api/v1/datasets/{name}"): frozenset({A, DS, PM, AU}),
    ("PATCH", "/api/v1/datasets/{name}"): frozenset({A, DS}),
    ("DELETE", "/api/v1/datasets/{name}"): frozenset({A, DS}),
    ("GET", "/api/v1/permits"): frozenset({A, PM, AU}),
    ("POST", "/api/v1/permits"): frozenset({A, PM}),
    ("GET", "/api/v1/permits/{permit_id}"): frozenset({A, PM, AU}),
    ("GET", "/api/v1/permits/{permit_id}/history"): frozenset({A, PM, AU}),
    ("POST", "/api/v1/permits/decisions"): frozenset({A, PM}),
    ("GET", "/api/v1/permits/{permit_id}/decisions"): frozenset({A, PM, AU}),
    ("POST", "/api/v1/permits/{permit_id}/amend"): frozenset({A, PM}),
    ("POST", "/api/v1/permits/{permit_id}/renew"): frozenset({A, PM}),
    ("POST", "/api/v1/permits/{permit_id}/suspend"): frozenset({A, PM}),
    ("POST", "/api/v1/permits/{permit_id}/resume"): frozenset({A, PM}),
    ("POST", "/api/v1/permits/{permit_id}/revoke"): frozenset({A, PM}),
    ("GET", "/api/v1/projects"): EVERYONE,
    ("GET", "/api/v1/projects/{project_id}"): EVERYONE,
    ("GET", "/api/v1/projects/{project_id}/usage"): EVERYONE,
    ("PUT", "/api/v1/projects/{project_id}/budget"): frozenset({A, PM}),
    ("DELETE", "/api/v1/projects/{project_id}/budget"): frozenset({A, PM}),
    ("POST", "/api/v1/projects/{project_id}/halt"): frozenset({A, PM}),
    ("GET", "/api/v1/projects/{project_id}/extract"): PROTOCOL,
    ("GET", "/api/v1/projects/{project_id}/extract/files/{name}"): PROTOCOL,
    ("GET", "/api/v1/projects/{project_id}/extract/status"): EVERYONE,
    ("POST", "/api/v1/datasets/{name}/sources"): frozenset({A, DS}),
    ("PUT", "/api/v1/datasets/{name}/sources"): frozenset({A, DS}),
    ("POST", "/api/v1/projects/{project_id}/workspace-token"): HUB,
    ("POST", "/api/v1/projects/{project_id}/egress-requests"): frozenset({R}),
    ("GET", "/api/v1/projects/{project_id}/egress-requests"): frozenset({R}),
    ("GET", "/api/v1/egress/requests"): frozenset({OC}),
    ("GET", "/api/v1/egress/requests/{request_id}"): frozenset({R, OC}),
    ("PUT", "/api/v1/egress/requests/{request_id}/files/{file_id}"): frozenset({R}),
    ("POST", "/api/v1/egress/requests/{request_id}/resubmit"): frozenset({R}),
    ("POST", "/api/v1/egress/requests/{request_id}/withdraw"): frozenset({R}),
    ("GET", "/api/v1/egress/requests/{request_id}/files/{file_id}/content"): frozenset({OC}),
    ("POST", "/api/v1/egress/requests/{request_id}/files/{file_id}/votes"): frozenset({OC}),
    ("POST", "/api/v1/egress/requests/{request_id}/return"): frozenset({OC}),
    ("POST", "/api/v1/egress/requests/{request_id}/reject"): frozenset({OC}),
    ("POST", "/api/v1/egress/requests/{request_id}/release"): frozenset({OC}),
    ("GET", "/api/v1/egress/releases/{release_id}"): frozenset({R, OC, AU}),
    ("GET", "/api/v1/egress/releases/{release_id}/files/{file_id}"): frozenset({R}),
    ("POST", "/api/v1/egress/releases/{release_id}/revoke"): frozenset({OC, A}),
    ("GET", "/api/v1/egress/release-key"): ANYONE,
    ("GET", "/api/v1/audit/events"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/events/{seq}"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/events/{seq}/proof"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/checkpoints/latest"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/checkpoints/{tree_size}"): frozenset({AU, A}),
    ("POST", "/api/v1/audit/checkpoints"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/consistency"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/export"): frozenset({AU, A}),
    ("GET", "/api/v1/audit/public-key"): ANYONE,
    ("POST", "/api/v1/audit/ingest"): COMPONENTS,
    ("GET", "/oauth/authorize"): BROWSER,
    ("GET", "/workspaces/{project_id}/closed"): BROWSER,
    ("POST", "/oauth/token"): PROTOCOL,
    ("GET", "/oauth/userinfo"): PROTOCOL,
    ("GET", "/.well-known/openid-configuration"): ANYONE,
    ("GET", "/oauth/jwks"): ANYONE,
    ("GET", "/auth/login"): BROWSER,
    ("POST", "/auth/token-login"): BROWSER,
    ("POST", "/auth/logout"): BROWSER,
    ("GET", "/docs"): ANYONE,
    ("GET", "/"): PERSON,
    ("GET", "/console/language"): BROWSER,
    ("GET", "/console/review"): frozenset({OC}),
    ("GET", "/console/review/{request_id}"): frozenset({OC}),
    ("GET", "/console/review/{request_id}/overlaps"): frozenset({OC}),
    ("GET", "/console/review/{request_id}/files/{file_id}/image"): frozenset({OC}),
    ("POST", "/console/review/{request_id}/files/{file_id}/vote"): frozenset({OC}),
    ("POST", "/console/review/{request_id}/return"): frozenset({OC}),
    ("POST", "/console/review/{request_id}/reject"): frozenset({OC}),
    ("POST", "/console/review/{request_id}/release"): frozenset({OC}),
    ("POST", "/console/releases/{release_id}/revoke"): frozenset({OC, A}),
    ("GET", "/console/requests/{request_id}"): frozenset({R}),
    ("POST", "/console/requests/{request_id}/withdraw"): frozenset({R}),
    ("POST", "/console/requests/{request_id}/resubmit"): frozenset({R}),
    ("GET", "/console/tokens"): PERSON,
    ("POST", "/console/tokens"): PERSON,
    ("POST", "/console/tokens/{token_id}/revoke"): PERSON,
    ("GET", "/console/audit"): frozenset({AU, A}),
    ("GET", "/console/audit/events/{seq}"): frozenset({AU, A}),
    ("GET", "/console/audit/checkpoints"): frozenset({AU, A}),
    ("POST", "/console/audit/checkpoints"): frozenset({AU, A}),
    ("GET", "/console/projects/{project_id}"): EVERYONE,
    ("GET", "/console/datasets"): frozenset({A, DS, PM, AU}),
    ("GET", "/console/datasets/{name}"): frozenset({A, DS, PM, AU}),
    ("POST", "/console/datasets/{name}/source"): frozenset({A, DS}),
    ("POST", "/console/datasets"): frozenset({A, DS}),
    ("POST", "/console/users"): frozenset({A}),
    ("POST", "/console/users/{user_id}/tokens/{token_id}/revoke"): frozenset({A}),
    ("GET", "/console/permits/new"): frozenset({A, PM}),
    ("POST", "/console/permits"): frozenset({A, PM}),
    ("POST", "/console/permits/decisions"): frozenset({A, PM}),
    ("POST", "/console/permits/{permit_id}/amend"): frozenset({A, PM}),
    ("POST", "/console/permits/{permit_id}/renew"): frozenset({A, PM}),
    ("GET", "/console/users"): frozenset({A, PM, AU}),
    ("GET", "/console/users/{user_id}"): frozenset({A, PM, AU}),
    ("POST", "/console/users/{user_id}/roles"): frozenset({A}),
    ("POST", "/console/users/{user_id}/roles/{role}/revoke"): frozenset({A}),
    ("POST", "/console/users/{user_id}/active"): frozenset({A}),
    ("GET", "/console/permits"): frozenset({A, PM, AU}),
    ("GET", "/console/permits/{permit_id}"): frozenset({A, PM, AU}),
    ("POST", "/console/permits/{permit_id}/suspend"): frozenset({A, PM}),
    ("POST", "/console/permits/{permit_id}/resume"): frozenset({A, PM}),
    ("POST", "/console/permits/{permit_id}/revoke"): frozenset({A, PM}),
    ("POST", "/console/projects/{project_id}/halt"): frozenset({A, PM}),
    ("POST", "/console/projects/{project_id}/budget"): frozenset({A, PM}),
    ("POST", "/console/projects/{project_id}/budget/remove"): frozenset({A, PM}),
}

PATH_VALUES = {"role": "auditor"}


def routes(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return sorted((method.upper(), path) for path, ops in spec["paths"].items()
                  for method in ops)


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "does-not-exist"), path)


def test_every_route_is_in_the_table(client):
    listed = set(routes(client))
    assert listed - EXPECTED.keys() == set(), "routes without an access declaration in the test"
    assert EXPECTED.keys() - listed == set(), "table entries for routes that do not exist"


def api_routes(app) -> list:
    """Every route of ``app`` as served (with its routers' prefixes and dependencies)."""
    return [c.route for c in iter_route_contexts(app.routes)
            if hasattr(c.route, "dependant")]


def access_of(route) -> list[tuple]:
    return [d.call.access for d in route.dependant.dependencies if hasattr(d.call, "access")]


def test_every_route_declares_access(client):
    """Each route has exactly one access dependency, matching the table."""
    routes_checked = 0
    for route in api_routes(client.app):
        methods = route.methods
        declared = access_of(route)
        routes_checked += 1
        assert len(declared) == 1, f"{route.path} declares {len(declared)} access rules"
        kind, roles, _ = declared[0]
        for method in methods:
            expected = EXPECTED[(method, route.path)]
            if expected in (HUB, COMPONENTS):
                assert kind == "components", (method, route.path)
                assert roles == ({"hub"} if expected == HUB else {"hub", "storage"})
            elif expected in OPEN_KINDS or expected == PERSON:
                assert kind == {**OPEN_KINDS, PERSON: "authenticated"}[expected]
            else:
                assert kind == "roles" and roles == expected, (method, route.path)
    assert routes_checked == len(routes(client))


@pytest.mark.parametrize("role", list(Role))
def test_roles_by_route(client, tokens, role):
    for method, path in routes(client):
        expected = EXPECTED[(method, path)]
        response = client.request(method, concrete(path), headers=auth(tokens[role]),
                                  json={} if method in ("POST", "PATCH", "PUT") else None)
        allowed = expected in OPEN_KINDS or expected == PERSON or \
            (expected not in (HUB, COMPONENTS) and role in expected)
        if expected == PROTOCOL:  # a personal token is not this protocol's credential
            assert response.status_code != 403, (role, method, path)
        elif allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
            assert response.json()["error"]["code"] == "auth.forbidden"
        assert response.status_code < 500, (role, method, path, response.text)


def test_anonymous_gets_401(client):
    for method, path in routes(client):
        response = client.request(method, concrete(path))
        expected = EXPECTED[(method, path)]
        if expected == ANYONE:
            assert response.status_code in (200, 503)
        elif expected in (BROWSER, PROTOCOL):
            assert response.status_code < 500, (method, path)
        else:
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == "Bearer"


def test_bad_token_gets_401(client):
    for token in ("spe_not-a-real-token", "garbage"):
        response = client.get("/api/v1/projects", headers=auth(token))
        assert response.status_code == 401
