"""Every refusal of a state change leaves an audit event (outcome ``denied``, with its code)
for the request that was refused, on both databases: permit transitions and the kill switch
through the API and the console's forms, and a refused sign-in."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, make_user, permit_body


def denied(engine, request_id: str) -> list[tuple[str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.request_id == request_id,
                                               AuditEvent.outcome == "denied")).all()
    return [(e.action, e.details.get("code")) for e in rows]


def post(client, path: str, token: str | None = None, **kwargs):
    rid = f"ref-{uuid.uuid4().hex}"
    headers = {"X-Request-ID": rid, **(auth(token) if token else {})}
    return client.post(path, headers=headers, follow_redirects=False, **kwargs), rid


@pytest.fixture(scope="module")
def revoked(client, engine, tokens) -> dict:
    """A permit revoked for good: every transition of it is refused."""
    body = permit_body(make_dataset(engine), [make_user(engine, Role.researcher)[0]])
    permit = client.post("/api/v1/permits", json=body,
                         headers=auth(tokens[Role.permit_manager])).json()
    response = client.post(f"/api/v1/permits/{permit['id']}/revoke", json={"reason": "end"},
                           headers=auth(tokens[Role.permit_manager]))
    assert response.status_code == 200
    return permit


@pytest.mark.parametrize(("name", "body"), [
    ("amend", {"purpose": "p", "reason": "r"}), ("renew", {"valid_until": "2099-01-01T00:00:00Z"}),
    ("suspend", {"reason": "r"}), ("resume", {}), ("revoke", {"reason": "r"})])
def test_refused_permit_transitions_are_audited(client, engine, tokens, revoked, name, body):
    response, rid = post(client, f"/api/v1/permits/{revoked['id']}/{name}",
                         tokens[Role.permit_manager], json=body)
    assert response.status_code == 409
    assert denied(engine, rid) == [(f"permit.{name}", "permit.invalid_transition")]


def test_refused_halts_are_audited(client, engine, tokens, revoked):
    manager = tokens[Role.permit_manager]
    response, rid = post(client, f"/api/v1/projects/{revoked['project_id']}/halt", manager,
                         json={"reason": "drill"})
    assert response.status_code == 409
    assert denied(engine, rid) == [("permit.suspend", "permit.invalid_transition")]
    response, rid = post(client, "/api/v1/projects/p-nothere/halt", manager,
                         json={"reason": "drill"})
    assert response.status_code == 404
    assert denied(engine, rid) == [("permit.suspend", "project.not_found")]


@pytest.mark.parametrize(("path", "form", "status", "expected"), [
    ("permits/{id}/suspend", {"reason": "r"}, 409, ("permit.suspend",
                                                    "permit.invalid_transition")),
    ("permits/{id}/resume", {"reason": "r"}, 409, ("permit.resume",
                                                   "permit.invalid_transition")),
    ("permits/{id}/revoke", {"reason": "r"}, 422, ("permit.revoke",
                                                   "permit.confirmation_required")),
    ("permits/{id}/suspend", {"reason": " "}, 422, ("permit.suspend",
                                                    "permit.reason_required")),
    ("projects/{project}/halt", {"reason": "r", "confirm": "yes"}, 409,
     ("permit.suspend", "permit.invalid_transition")),
    ("projects/{project}/halt", {"reason": "r"}, 422,
     ("permit.suspend", "permit.confirmation_required")),
])
def test_refusals_of_the_console_forms_are_audited(client, engine, tokens, revoked, path,
                                                   form, status, expected):
    url = "/console/" + path.format(id=revoked["id"], project=revoked["project_id"])
    response, rid = post(client, url, tokens[Role.permit_manager], data=form)
    assert response.status_code == status
    assert denied(engine, rid) == [expected]


def test_a_refused_sign_in_is_audited(client, engine):
    page = client.get("/auth/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response, rid = post(client, "/auth/token-login", data={"token": "nope", "csrf": csrf})
    assert response.status_code == 401
    assert denied(engine, rid) == [("auth.login", "auth.invalid_token")]
    response, rid = post(client, "/auth/token-login", data={"token": "nope", "csrf": "x"})
    assert response.status_code == 400
    assert denied(engine, rid) == [("auth.login", "auth.csrf")]
