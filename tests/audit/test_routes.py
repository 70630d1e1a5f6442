"""The auditor API and ingestion, through the real application on SQLite."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from spe import migrations
from spe.audit import service
from spe.audit.verify import verify_export
from spe.auth.tokens import issue_token
from spe.crypto.signing import load_public_key
from spe.db import make_engine, session_scope
from spe.db.types import utcnow
from spe.domain.roles import Role
from spe.settings import Settings
from spe.web import create_app
from tests.audit.factories import running_signer
from testsupport.factories import TEST, make_user


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    engine = make_engine(f"sqlite:///{data / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=data)
    with running_signer(engine, settings), \
            TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield client, engine
    engine.dispose()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def component_token(engine, component: str, project_id: str | None = None) -> dict:
    with session_scope(engine) as s:
        _, secret = issue_token(s, ttl=timedelta(hours=1), actor=TEST, component=component,
                                project_id=project_id)
    return bearer(secret)


@pytest.fixture(scope="module")
def auditor(api):
    return bearer(make_user(api[1], Role.auditor)[1])


def test_search_pages_by_sequence_with_filters(api, auditor):
    client, engine = api
    hub = component_token(engine, "hub", "p-search")
    events = [{"action": "workspace.login", "user": f"alice{i}"} for i in range(5)]
    assert client.post("/api/v1/audit/ingest", headers=hub,
                       json={"format": "spe.hub.v1", "events": events}).status_code == 202
    since = (utcnow() - timedelta(minutes=1)).isoformat()
    page = client.get("/api/v1/audit/events", headers=auditor,
                      params={"project": "p-search", "action": "workspace.",
                              "since": since, "limit": 2}).json()
    assert [e["details"]["user"] for e in page["items"]] == ["alice0", "alice1"]
    assert page["items"][0]["actor_id"] == "hub:p-search"
    assert page["items"][0]["details"]["source"] == "hub"
    rest = client.get("/api/v1/audit/events", headers=auditor,
                      params={"project": "p-search", "after": page["next"]}).json()
    assert [e["details"]["user"] for e in rest["items"]] == ["alice2", "alice3", "alice4"]
    assert rest["next"] is None
    none = client.get("/api/v1/audit/events", headers=auditor,
                      params={"project": "p-search", "until": since}).json()
    assert none["items"] == []


def test_only_auditors_read_the_log(api):
    client, engine = api
    researcher = bearer(make_user(engine, Role.researcher)[1])
    assert client.get("/api/v1/audit/events", headers=researcher).status_code == 403
    assert client.get("/api/v1/audit/public-key").status_code == 200


def test_a_hub_reports_only_its_own_project(api, auditor):
    client, engine = api
    hub = component_token(engine, "hub", "p-own")
    response = client.post("/api/v1/audit/ingest", headers=hub, json={
        "format": "spe.hub.v1",
        "events": [{"action": "workspace.login", "user": "bob", "project_id": "p-other"}]})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "audit.foreign_project"
    storage_feed = {"format": "s3.access_log", "lines": []}
    assert client.post("/api/v1/audit/ingest", headers=hub,
                       json=storage_feed).status_code == 403
    assert client.post("/api/v1/audit/ingest", headers=auditor,
                       json=storage_feed).status_code == 403


def test_storage_notifications_and_access_logs(api, auditor):
    client, engine = api
    storage = component_token(engine, "storage")
    notification = {"Records": [{
        "eventVersion": "2.2", "eventSource": "ceph:s3", "eventTime": "2025-01-02T03:04:05Z",
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "spe-extractor"},
        "requestParameters": {"sourceIPAddress": "10.1.2.3"},
        "s3": {"bucket": {"name": "spe"},
               "object": {"key": "projects/p-s3/extracts/a.parquet", "size": 42}}}]}
    minio = json.loads(json.dumps(notification))
    minio["Records"][0]["eventName"] = "s3:ObjectAccessed:Get"
    line = ('owner spe [06/Feb/2025:00:00:38 +0000] 192.0.2.3 researcher1 3E57427F3EXAMPLE '
            'REST.GET.OBJECT projects/p-s3/releases/r.csv "GET /spe/projects/p-s3/releases/'
            'r.csv HTTP/1.1" 403 AccessDenied 243 - 7 - "-" "curl/8" -')
    for body in ({"format": "s3.notification", **notification},
                 {"format": "s3.notification", **minio},
                 {"format": "s3.access_log", "lines": [line]}):
        assert client.post("/api/v1/audit/ingest", headers=storage,
                           json=body).status_code == 202
    items = client.get("/api/v1/audit/events", headers=auditor,
                       params={"project": "p-s3"}).json()["items"]
    assert [(e["action"], e["outcome"], e["target_id"]) for e in items] == [
        ("storage.object.create", "success", "spe/projects/p-s3/extracts/a.parquet"),
        ("storage.object.read", "success", "spe/projects/p-s3/extracts/a.parquet"),
        ("storage.object.get", "denied", "spe/projects/p-s3/releases/r.csv")]
    assert items[2]["details"]["remote_ip"] == "192.0.2.3"
    assert {e["actor_id"] for e in items} == {"storage"}
    bad = client.post("/api/v1/audit/ingest", headers=storage,
                      json={"format": "s3.access_log", "lines": ["nonsense"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "audit.bad_access_log"


def test_checkpoints_proofs_and_an_export_verify_with_the_public_key(api, auditor):
    client, engine = api
    first = client.post("/api/v1/audit/checkpoints", headers=auditor)
    assert first.status_code == 201
    cp1 = first.json()
    with session_scope(engine) as s:
        from spe.audit import Actor, record
        record(s, action="test.more", actor=Actor.system("tests"))
    cp2 = client.post("/api/v1/audit/checkpoints", headers=auditor).json()
    assert cp2["tree_size"] > cp1["tree_size"]
    assert client.get("/api/v1/audit/checkpoints/latest", headers=auditor).json() == cp2
    assert client.get(f"/api/v1/audit/checkpoints/{cp1['tree_size']}",
                      headers=auditor).json() == cp1
    key = client.get("/api/v1/audit/public-key").json()
    public = load_public_key(key["pem"])
    assert key["key_id"] == cp2["key_id"]

    proof = client.get("/api/v1/audit/events/3/proof", headers=auditor,
                       params={"tree_size": cp1["tree_size"]}).json()
    service.verify_inclusion(proof, public)
    consistency = client.get("/api/v1/audit/consistency", headers=auditor, params={
        "from": cp1["tree_size"], "to": cp2["tree_size"]}).json()
    service.verify_consistency(consistency, public)
    assert client.get("/api/v1/audit/events/99999/proof",
                      headers=auditor).status_code == 422

    export = client.get("/api/v1/audit/export", headers=auditor, params={"from": 2})
    assert export.headers["content-type"] == "application/x-ndjson"
    report = verify_export(export.text.splitlines(), public, utcnow() - timedelta(days=366))
    # every event up to the export, cp2's own audit.checkpoint.create event included
    assert (report.start, report.size) == (2, cp2["tree_size"] + 1)


def test_no_checkpoint_is_signed_over_a_tampered_log(tmp_path):
    """409 audit.log_broken, and nothing signed: on its own application, as it edits the
    log (the shared one is left alone)."""
    from sqlalchemy import text

    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=tmp_path)
    with running_signer(engine, settings), \
            TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        headers = bearer(make_user(engine, Role.auditor)[1])
        assert client.post("/api/v1/audit/checkpoints", headers=headers).status_code == 201
        client.get("/api/v1/audit/events", headers=headers)
        make_user(engine, Role.researcher)  # more events after the checkpoint
        with engine.begin() as conn:
            last = conn.execute(text("SELECT max(seq) FROM audit_event")).scalar()
            conn.execute(text("UPDATE audit_event SET actor_id = 'x' WHERE seq = :s"),
                         {"s": last})
        refused = client.post("/api/v1/audit/checkpoints", headers=headers)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "audit.log_broken"
        assert f"seq {last}: body does not match" in error["message"]
        events = client.get("/api/v1/audit/events", headers=headers,
                            params={"action": "audit.checkpoint.request"}).json()["items"]
        refusal = events[-1]
        assert (refusal["outcome"], refusal["details"]["code"]) == ("denied",
                                                                   "audit.log_broken")
        signed = client.get("/api/v1/audit/checkpoints/latest", headers=headers).json()
        assert signed["tree_size"] <= last  # nor did the signer sign over the edit
    engine.dispose()


def test_search_by_name_or_email_and_events_carry_names(api, auditor):
    """An auditor looking for alice finds her events by name or e-mail; each carries her
    name beside her id."""
    client, engine = api
    from spe.domain.users import UserCreate, create_user

    with session_scope(engine) as s:
        alice = create_user(s, UserCreate(subject="alice-named", email="Alice@Example.org",
                                          roles=[Role.researcher]), actor=TEST)
        alice_id = alice.id
        _, secret = issue_token(s, ttl=timedelta(hours=1), actor=TEST, user_id=alice_id)
    denied = client.post("/api/v1/audit/checkpoints", headers=bearer(secret))
    assert denied.status_code == 403  # refused, and audited with alice as actor
    for actor in ("alice-named", "alice@example.org", alice_id):
        items = client.get("/api/v1/audit/events", headers=auditor,
                           params={"actor": actor}).json()["items"]
        assert items, actor
        assert {(e["actor_id"], e["actor_name"], e["actor_email"]) for e in items} == {
            (alice_id, "alice-named", "Alice@example.org")}  # the domain, normalised
    system = client.get("/api/v1/audit/events", headers=auditor,
                        params={"actor": "tests"}).json()["items"]
    assert system and all(e["actor_name"] is None for e in system)
    one = client.get(f"/api/v1/audit/events/{items[0]['seq']}", headers=auditor).json()
    assert one["actor_name"] == "alice-named"
    unknown = client.get("/api/v1/audit/events", headers=auditor, params={"actor": "nobody"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "audit.unknown_actor"


def test_database_and_exports_count_the_same_checkpoints(api, auditor):
    """The summary of `spe audit verify` counts each signed checkpoint once, whether it reads
    the database, the API's export or the command line's (spe.audit.export.export_lines)."""
    from sqlmodel import Session

    from spe.audit import Actor, record
    from spe.audit.export import export_lines
    from spe.audit.verify import verify_database

    client, engine = api
    for _ in range(2):
        with session_scope(engine) as s:
            record(s, action="test.more", actor=Actor.system("tests"))
        assert client.post("/api/v1/audit/checkpoints", headers=auditor).status_code == 201
    public = load_public_key(client.get("/api/v1/audit/public-key").json()["pem"])
    cutoff = utcnow() - timedelta(days=366)
    api_export = client.get("/api/v1/audit/export", headers=auditor).text.splitlines()
    from_api = verify_export(api_export, public, cutoff)
    with Session(engine) as s:
        cli_export = list(export_lines(s))  # `spe audit export` after its checkpoint
        from_cli = verify_export(cli_export, public, cutoff)
        from_database = verify_database(s, public, cutoff, workers=1)
    assert from_api.checkpoints == from_cli.checkpoints == from_database.checkpoints
    assert from_api.size == from_cli.size == from_database.size - 1  # + the export's event
