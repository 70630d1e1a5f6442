"""Every state-changing route writes an audit event for the request that changed state.

A scripted session calls every POST/PUT/PATCH/DELETE route of the API successfully, each
with its own request id; the test then finds, for every successful call, an audit event
carrying that request id. The list of routes comes from the application itself, so a new
state-changing route that this script does not exercise — or that audits nothing — fails.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from spe.audit import Actor
from spe.audit.models import AuditEvent
from spe.auth.hub_clients import register_hub_client, set_redirect_uri
from spe.db import session_scope
from spe.domain.roles import Role
from spe.storage.local import LocalObjectStore
from spe.web import create_app
from tests.audit.factories import running_signer
from testsupport.factories import (
    auth,
    make_dataset,
    make_user,
    permit_body,
    permit_issuer,
    sign_decision,
    unique,
)
from testsupport.platform import swap

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
BASE = "http://127.0.0.1:8000"
CALLBACK = "http://127.0.0.1:9999/hub/oauth_callback"
CSV = b"region,count\nnorth,120\nsouth,85\n"


class Recorder:
    """(method, route template, status, request id) of every call the script makes."""

    def __init__(self, app) -> None:
        self.calls: list[tuple[str, str, int, str]] = []

        @app.middleware("http")
        async def remember(request, call_next):
            response = await call_next(request)
            route = request.scope.get("route")
            self.calls.append((request.method, getattr(route, "path", request.url.path),
                               response.status_code, request.headers.get("x-request-id", "")))
            return response


@pytest.fixture(scope="module")
def world(engine, settings, tmp_path_factory):
    with running_signer(engine, settings):  # signs the checkpoints the auditor asks for
        app = create_app(settings, engine)
        swap(app, object_store=LocalObjectStore(tmp_path_factory.mktemp("objects")))
        recorder = Recorder(app)
        client = TestClient(app, base_url=BASE, raise_server_exceptions=False)
        yield app, client, recorder


def call(client: TestClient, method: str, path: str, token: str | None = None, **kwargs):
    headers = {"X-Request-ID": f"cov-{uuid.uuid4().hex}", **kwargs.pop("headers", {})}
    if token:
        headers |= auth(token)
    response = client.request(method, path, headers=headers, follow_redirects=False,
                              **kwargs)
    assert response.status_code < 400, (method, path, response.status_code, response.text)
    return response


def test_every_state_change_is_audited(world, engine, tmp_path_factory):
    app, client, recorder = world
    tok = {role: make_user(engine, role)[1] for role in Role}
    researcher, r_token = make_user(engine, Role.researcher)
    checkers = [make_user(engine, Role.output_checker)[1] for _ in range(2)]

    # people, roles and personal tokens
    user = call(client, "POST", "/api/v1/users", tok[Role.admin],
                json={"subject": unique("carol"), "roles": ["researcher"]}).json()
    call(client, "PATCH", f"/api/v1/users/{user['id']}", tok[Role.admin],
         json={"display_name": "Carol"})
    call(client, "PUT", f"/api/v1/users/{user['id']}/roles/auditor", tok[Role.admin])
    call(client, "DELETE", f"/api/v1/users/{user['id']}/roles/auditor", tok[Role.admin])
    for path, form in [("roles", {"role": "auditor"}), ("roles/auditor/revoke", {}),
                       ("active", {"active": "false"}), ("active", {"active": "true"})]:
        call(client, "POST", f"/console/users/{user['id']}/{path}", tok[Role.admin], data=form)
    call(client, "POST", "/console/users", tok[Role.admin],
         data={"subject": unique("dave"), "roles": ["auditor"]})
    mine = call(client, "POST", "/api/v1/me/tokens", tok[Role.auditor], json={}).json()
    auditor = call(client, "GET", "/api/v1/me", tok[Role.auditor]).json()["id"]
    for path in (f"/api/v1/users/{auditor}/tokens/{{}}",
                 f"/console/users/{auditor}/tokens/{{}}/revoke"):
        spare = call(client, "POST", "/api/v1/me/tokens", tok[Role.auditor], json={}).json()
        call(client, "DELETE" if path.startswith("/api") else "POST", path.format(spare["id"]),
             tok[Role.admin])
    call(client, "DELETE", f"/api/v1/me/tokens/{mine['id']}", tok[Role.auditor])

    # the catalogue
    name = unique("cov")
    call(client, "POST", "/api/v1/datasets", tok[Role.data_steward], json={
        "name": name, "holder": "CNAM", "variables": [
            {"name": "nir", "classification": "direct_identifier"}]})
    call(client, "PATCH", f"/api/v1/datasets/{name}", tok[Role.data_steward],
         json={"description": "d"})
    source = call(client, "POST", f"/api/v1/datasets/{name}/sources", tok[Role.data_steward],
                  files={"file": ("people.csv", b"nir\n1234567890123\n", "text/csv")}).json()
    call(client, "PUT", f"/api/v1/datasets/{name}/sources", tok[Role.data_steward],
         json={"object_key": source["object_key"]})
    call(client, "POST", f"/console/datasets/{name}/source", tok[Role.data_steward],
         files={"file": ("people-2.csv", b"nir\n1234567890123\n", "text/csv")})
    call(client, "POST", "/console/datasets", tok[Role.data_steward],
         data={"name": unique("cov"), "holder": "CNAM",
               "variables": "nir string direct_identifier"})
    unused = unique("cov")
    call(client, "POST", "/api/v1/datasets", tok[Role.data_steward], json={
        "name": unused, "holder": "CNAM", "variables": [
            {"name": "x", "classification": "other"}]})
    call(client, "DELETE", f"/api/v1/datasets/{unused}", tok[Role.data_steward])

    # a permit's whole life, and a second one that stays active for the workspace
    dataset = make_dataset(engine)
    pm = tok[Role.permit_manager]
    old = call(client, "POST", "/api/v1/permits", pm,
               json=permit_body(dataset, [researcher])).json()
    consoled, halted = (call(client, "POST", "/api/v1/permits", pm,
                             json=permit_body(dataset, [researcher])).json() for _ in range(2))
    for step, form in [("suspend", {"reason": "r"}), ("resume", {"reason": "r"}),
                       ("revoke", {"reason": "r", "confirm": "yes"})]:
        call(client, "POST", f"/console/permits/{consoled['id']}/{step}", pm, data=form)
    call(client, "POST", f"/console/projects/{halted['project_id']}/halt", pm,
         data={"reason": "drill", "confirm": "yes"})
    formed = call(client, "POST", "/console/permits", pm, data={
        "reference": unique("HDH-FORM").upper(), "issuer": "HDH", "project_title": "t",
        "purpose": "p", "principal_investigator": researcher, "members": researcher,
        "datasets": f"{dataset}: patient_id", "valid_from": "2020-01-01",
        "valid_until": "2099-01-01"}).headers["location"].rsplit("/", 1)[1]
    call(client, "POST", f"/console/permits/{formed}/amend", pm, data={
        "project_title": "t", "purpose": "another purpose", "principal_investigator": researcher,
        "members": researcher, "datasets": f"{dataset}: patient_id", "sdc_policy": "snds",
        "workspace_profile": "standard", "reason": "r"})
    call(client, "POST", f"/console/permits/{formed}/renew", pm,
         data={"valid_until": "2099-06-01", "reason": "r"})
    for step, body in [("amend", {"purpose": "p", "reason": "r"}),
                       ("renew", {"valid_until": "2099-01-01T00:00:00Z"}),
                       ("suspend", {"reason": "r"}), ("resume", {}),
                       ("revoke", {"reason": "r"})]:
        call(client, "POST", f"/api/v1/permits/{old['id']}/{step}", pm, json=body)
    permit = call(client, "POST", "/api/v1/permits", pm,
                  json=permit_body(dataset, [researcher])).json()
    project = permit["project_id"]
    key, issuers = permit_issuer(tmp_path_factory.mktemp("issuers"), "https://hdh.example")
    swap(app, settings=app.state.platform.settings.model_copy(
        update={"permit_issuers_file": issuers}))
    terms = {k: v for k, v in permit_body(dataset, [researcher]).items()
             if k not in {"reference", "issuer"}}
    call(client, "POST", "/api/v1/permits/decisions", pm, json={"jws": sign_decision(
        key, "https://hdh.example", "grant", unique("HDH-SIGNED"), terms)})
    call(client, "POST", "/console/permits/decisions", pm, data={"jws": sign_decision(
        key, "https://hdh.example", "grant", unique("HDH-SIGNED"), terms)})

    # the project hub: service token, sign-in of the researcher, code exchange, audit events
    with session_scope(engine) as s:
        hub = register_hub_client(s, app.state.platform.secret_box, project,
                                  actor=Actor.system("t"))
        set_redirect_uri(s, project, CALLBACK, actor=Actor.system("t"))
    page = call(client, "GET", "/auth/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    call(client, "POST", "/auth/token-login", data={"token": r_token, "csrf": csrf})
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    back = call(client, "GET", "/oauth/authorize", params={
        "response_type": "code", "client_id": hub.client_id, "redirect_uri": CALLBACK,
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"})
    code = parse_qs(urlsplit(back.headers["location"]).query)["code"][0]
    call(client, "POST", "/oauth/token", auth=(hub.client_id, hub.client_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier})
    csrf = call(client, "GET", "/api/v1/me").json()["csrf_token"]
    call(client, "POST", "/auth/logout", data={"csrf": csrf})
    call(client, "POST", "/api/v1/audit/ingest", hub.service_token, json={
        "format": "spe.hub.v1", "events": [{"action": "workspace.server.start",
                                            "user": researcher, "project_id": project}]})
    workspace = call(client, "POST", f"/api/v1/projects/{project}/workspace-token",
                     hub.service_token, json={"user": researcher}).json()["token"]

    # egress: submit, vote, release, revoke; return, replace, resubmit, reject; withdraw
    def submit() -> dict:
        return call(client, "POST", f"/api/v1/projects/{project}/egress-requests", workspace,
                    data={"title": "t", "descriptions": ["counts by region"]},
                    files=[("files", ("counts.csv", CSV, "text/csv"))]).json()

    def votes(request: dict, decision: str = "approve") -> None:
        for checker in checkers:
            for f in request["files"]:
                call(client, "POST", f"/api/v1/egress/requests/{request['id']}/files/"
                     f"{f['id']}/votes", checker, json={"decision": decision,
                                                        "sha256": f["sha256"]})

    request = submit()
    votes(request)
    release = call(client, "POST", f"/api/v1/egress/requests/{request['id']}/release",
                   checkers[0]).json()
    call(client, "POST", f"/api/v1/egress/releases/{release['id']}/revoke", tok[Role.admin],
         json={"comment": "incident drill"})
    returned = submit()
    call(client, "POST", f"/api/v1/egress/requests/{returned['id']}/return", checkers[0],
         json={"comment": "please round the counts"})
    file_id = returned["files"][0]["id"]
    call(client, "PUT", f"/api/v1/egress/requests/{returned['id']}/files/{file_id}",
         workspace, files={"file": ("counts.csv", CSV.replace(b"85", b"80"), "text/csv")},
         data={"description": "rounded"})
    call(client, "POST", f"/api/v1/egress/requests/{returned['id']}/resubmit", workspace)
    call(client, "POST", f"/api/v1/egress/requests/{returned['id']}/reject", checkers[0],
         json={"comment": "still disclosive"})
    call(client, "POST", f"/api/v1/egress/requests/{submit()['id']}/withdraw", workspace,
         json={"reason": "wrong file"})

    # the same through the console's forms (a bearer token needs no CSRF field)
    def console_votes(request: dict) -> None:
        for checker in checkers:
            for f in request["files"]:
                call(client, "POST", f"/console/review/{request['id']}/files/{f['id']}/vote",
                     checker, data={"decision": "approve", "sha256": f["sha256"]})

    request = submit()
    console_votes(request)
    call(client, "POST", f"/console/review/{request['id']}/release", checkers[0])
    release_id = call(client, "GET", f"/api/v1/egress/requests/{request['id']}",
                      checkers[0]).json()["release_id"]
    call(client, "POST", f"/console/releases/{release_id}/revoke", tok[Role.admin],
         data={"comment": "incident drill"})
    returned = submit()
    call(client, "POST", f"/console/review/{returned['id']}/return", checkers[0],
         data={"comment": "please round the counts"})
    call(client, "POST", f"/console/requests/{returned['id']}/resubmit", r_token)
    call(client, "POST", f"/console/review/{returned['id']}/reject", checkers[0],
         data={"comment": "still disclosive"})
    call(client, "POST", f"/console/requests/{submit()['id']}/withdraw", r_token,
         data={"reason": "wrong file"})
    page = call(client, "POST", "/console/tokens", tok[Role.auditor],
                data={"description": "console-coverage"}).text
    row = next(r for r in page.split("<tr>") if "console-coverage" in r)
    token_id = re.search(r'action="/console/tokens/(\w+)/revoke"', row).group(1)
    call(client, "POST", f"/console/tokens/{token_id}/revoke", tok[Role.auditor])

    # the auditors' own write: a checkpoint; and the kill switch
    call(client, "POST", "/api/v1/audit/checkpoints", tok[Role.auditor])
    call(client, "POST", "/console/audit/checkpoints", tok[Role.auditor])
    call(client, "PUT", f"/api/v1/projects/{project}/budget", pm,
         json={"cpu_hours": 100, "reason": "allocation"})
    call(client, "DELETE", f"/api/v1/projects/{project}/budget", pm)
    call(client, "POST", f"/console/projects/{project}/budget", pm,
         data={"cpu_hours": "12,5", "reason": "console allocation"})
    call(client, "POST", f"/console/projects/{project}/budget/remove", pm)
    call(client, "POST", f"/api/v1/projects/{project}/halt", pm, json={"reason": "drill"})

    spec = client.get("/openapi.json").json()
    changing = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                if m.upper() in CHANGING}
    done = [(m, p, rid) for m, p, status, rid in recorder.calls
            if m in CHANGING and status < 400]
    assert changing - {(m, p) for m, p, _ in done} == set(), \
        "state-changing routes this script does not exercise"
    with Session(engine) as s:
        audited = set(s.exec(select(AuditEvent.request_id)
                             .where(AuditEvent.request_id.like("cov-%"))))
    silent = sorted({(m, p) for m, p, rid in done if rid not in audited})
    assert silent == [], "state changes without an audit event"
