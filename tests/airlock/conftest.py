"""The API on SQLite and the real PostgreSQL, with the egress router and a local object store.

Reuses tests/api's fixtures (settings, tokens). Temporary, until the lead's migration adds
the egress tables and the egress router joins ``spe.api.routes.ROUTERS``: the engine fixture
creates the tables missing after ``upgrade`` and the client fixture mounts the router.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import spe.airlock.models  # noqa: F401  (registers the egress tables)
from spe.audit import AuditEvent
from spe.domain.roles import Role
from spe.storage.local import LocalObjectStore
from spe.web import create_app
from testsupport.factories import auth, make_dataset, make_user, permit_body
from testsupport.platform import swap


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> LocalObjectStore:
    return LocalObjectStore(tmp_path_factory.mktemp("objects"))


@pytest.fixture(scope="module")
def client(engine, settings, store) -> Iterator[TestClient]:
    app = create_app(settings, engine)
    swap(app, object_store=store)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Project:
    """A project with an active permit naming ``researcher`` (and ``colleague``)."""

    id: str
    permit_reference: str
    researcher: str
    researcher_token: str
    colleague: str
    colleague_token: str


@pytest.fixture
def project(engine, client, tokens) -> Project:
    researcher, r_token = make_user(engine, Role.researcher)
    colleague, c_token = make_user(engine, Role.researcher, Role.output_checker)
    body = permit_body(make_dataset(engine), [researcher, colleague])
    response = client.post("/api/v1/permits", json=body,
                           headers=auth(tokens[Role.permit_manager]))
    assert response.status_code == 201, response.text
    permit = response.json()
    return Project(permit["project_id"], permit["reference"], researcher, r_token, colleague,
                   c_token)


@pytest.fixture
def checkers(engine) -> list[tuple[str, str]]:
    """Three independent output checkers: (subject, token)."""
    return [make_user(engine, Role.output_checker) for _ in range(3)]


def denied(engine: Engine, action: str, code: str) -> list[AuditEvent]:
    """Refusals of ``action`` with error ``code`` in the audit log."""
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.action == action,
                                                     AuditEvent.outcome == "denied")).all()
    return [r for r in rows if (r.details or {}).get("code") == code]


def events(engine: Engine, action: str, target_id: str | None = None) -> list[AuditEvent]:
    with Session(engine) as session:
        query = select(AuditEvent).where(AuditEvent.action == action,
                                         AuditEvent.outcome == "success")
        if target_id is not None:
            query = query.where(AuditEvent.target_id == target_id)
        return list(session.exec(query))


OK_CSV = b"region,count\nnorth,120\nsouth,85\n"
FAIL_CSV = b"region,count\nnorth,120\nsouth,3\n"
DESCRIPTION = "Patients by region, counted from the extract; cells under 11 suppressed"


def submit(client: TestClient, project_id: str, token: str, files: list[tuple[str, bytes]],
           descriptions: list[str] | None = None, title: str = "Regional counts"):
    return client.post(f"/api/v1/projects/{project_id}/egress-requests", headers=auth(token),
                       data={"title": title, "descriptions": descriptions or [DESCRIPTION]},
                       files=[("files", (name, data, "application/octet-stream"))
                              for name, data in files])


def vote(client: TestClient, token: str, request: dict, file: dict, decision: str = "approve",
         **extra):
    return client.post(f"/api/v1/egress/requests/{request['id']}/files/{file['id']}/votes",
                       headers=auth(token),
                       json={"decision": decision, "sha256": file["sha256"], **extra})


def read(client: TestClient, token: str, request_id: str) -> dict:
    response = client.get(f"/api/v1/egress/requests/{request_id}", headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


def file_named(request: dict, name: str) -> dict:
    return next(f for f in request["files"] if f["name"] == name)
