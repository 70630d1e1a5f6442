"""The extract grant, extract status, source uploads and the kill switch, through the API."""

from __future__ import annotations

import io
import json
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.data import synth
from spe.data.manifest import sign
from spe.domain.datasets import Dataset
from spe.domain.permits import Permit, PermitStatus
from spe.domain.projects import Project
from spe.web import create_app
from testsupport.platform import swap


@pytest.fixture
def client(engine, settings, plane, demo):
    app = create_app(settings, engine)
    swap(app, data_plane=plane)
    app.state.reconcile_wake = threading.Event()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(demo, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[subject][1]}"}


def prepared(engine, plane, project_id: str):
    with Session(engine) as s:
        project = s.get(Project, project_id)
        return plane.prepare(project, s.get(Permit, project.permit_id))


def test_a_grant_fetches_the_decrypted_pseudonymised_files(client, engine, plane, demo):
    ref = prepared(engine, plane, demo.project_id)
    grant = {"Authorization": f"Bearer {ref.grant_token}"}

    index = client.get(ref.grant_url.removeprefix("http://127.0.0.1:9"), headers=grant)
    assert index.status_code == 200, index.text
    files = {f["name"]: f for f in index.json()["files"]}
    assert files["snds-care"]["pseudonymised"] == ["nir"]
    download = client.get(files["snds-care"]["url"].removeprefix("http://127.0.0.1:9"),
                          headers=grant)
    assert download.status_code == 200
    table = pq.read_table(io.BytesIO(download.content))
    assert table.num_rows == files["snds-care"]["rows"] == 40_000
    raw = set(synth.beneficiaries(2_000, seed=2025).column("nir").to_pylist())
    assert raw.isdisjoint(table.column("nir").to_pylist())
    with Session(engine) as s:
        fetched = s.exec(select(AuditEvent).where(AuditEvent.action == "data.extract.fetch",
                                                  AuditEvent.outcome == "success")).all()
    assert [e.details["file"] for e in fetched] == ["snds-care"]


def test_anything_but_the_projects_live_grant_is_refused(client, engine, plane, demo):
    ref = prepared(engine, plane, demo.project_id)
    path = f"/api/v1/projects/{demo.project_id}/extract"
    for headers in ({}, bearer(demo, "alice"), bearer(demo, "admin"),
                    {"Authorization": "Bearer not-a-grant"}):
        assert client.get(path, headers=headers).status_code == 401
    other = client.get("/api/v1/projects/p-other/extract",
                       headers={"Authorization": f"Bearer {ref.grant_token}"})
    assert other.status_code == 401

    halted = client.post(f"/api/v1/projects/{demo.project_id}/halt",
                         json={"reason": "suspected breach"}, headers=bearer(demo, "pm"))
    assert halted.status_code == 200 and halted.json()["permit_status"] == "suspended"
    assert client.app.state.reconcile_wake.is_set()
    refused = client.get(path, headers={"Authorization": f"Bearer {ref.grant_token}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "extract.permit_inactive"


def test_halt_is_for_permit_managers_and_names_a_reason(client, engine, demo):
    path = f"/api/v1/projects/{demo.project_id}/halt"
    assert client.post(path, json={"reason": "x"}, headers=bearer(demo, "alice")
                       ).status_code == 403
    assert client.post(path, json={}, headers=bearer(demo, "admin")).status_code == 422
    assert client.post("/api/v1/projects/p-none/halt", json={"reason": "x"},
                       headers=bearer(demo, "admin")).status_code == 404
    with Session(engine) as s:
        assert s.exec(select(Permit)).one().status is PermitStatus.granted


def test_extract_status_for_staff_and_named_researchers(client, engine, plane, demo):
    path = f"/api/v1/projects/{demo.project_id}/extract/status"
    assert client.get(path, headers=bearer(demo, "alice")).json()["state"] == "absent"
    prepared(engine, plane, demo.project_id)
    for subject in ("alice", "auditor", "pm"):
        status = client.get(path, headers=bearer(demo, subject)).json()
        assert (status["state"], status["percent"], status["rows_done"]) == (
            "ready", 100, 42_000)
    assert client.get(path, headers=bearer(demo, "bob")).status_code == 404


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_a_mismatching_source_is_refused_and_not_kept(client, engine, plane, demo):
    csv = b"nir,sex,birthyear\n1840175123456,1,1984\n"
    response = client.post("/api/v1/datasets/snds-beneficiaries/sources",
                           files={"file": ("2026.csv", csv, "text/csv")},
                           headers=bearer(demo, "steward"))
    assert response.status_code == 422
    problems = {(p["kind"], p["column"]) for p in response.json()["error"]["details"]}
    assert problems == {("missing", "birth_year"), ("missing", "department"),
                        ("unexpected", "birthyear")}
    assert [i.key for i in plane.store.list("sources/snds-beneficiaries/")] == [
        "sources/snds-beneficiaries/synthetic-2025.parquet"]
    assert [i.key for i in plane.store.list("staging/")] == []
    with Session(engine) as s:
        refusal = s.exec(select(AuditEvent).where(
            AuditEvent.action == "dataset.source.register")).one()
    assert refusal.outcome == "denied"


def test_a_steward_uploads_or_registers_a_source(client, engine, plane, demo):
    table = synth.beneficiaries(50, seed=1)
    response = client.post("/api/v1/datasets/snds-beneficiaries/sources",
                           files={"file": ("2026.parquet", _parquet(table))},
                           headers=bearer(demo, "steward"))
    assert response.status_code == 201, response.text
    assert response.json()["rows"] == 50
    key = "sources/snds-beneficiaries/2026.parquet"
    with Session(engine) as s:
        assert s.get(Dataset, "snds-beneficiaries").source_uri == key
    assert client.post("/api/v1/datasets/snds-beneficiaries/sources",
                       files={"file": ("2026.parquet", _parquet(table))},
                       headers=bearer(demo, "admin")).status_code == 409

    back = client.put("/api/v1/datasets/snds-beneficiaries/sources",
                      json={"object_key": "sources/snds-beneficiaries/synthetic-2025.parquet"},
                      headers=bearer(demo, "steward"))
    assert back.status_code == 200 and back.json()["rows"] == 2_000
    for body, status in (({"object_key": "sources/snds-care/synthetic-2025.parquet"}, 422),
                         ({"object_key": "sources/snds-beneficiaries/none.parquet"}, 404),
                         ({"object_key": "../etc/passwd"}, 422)):
        assert client.put("/api/v1/datasets/snds-beneficiaries/sources", json=body,
                          headers=bearer(demo, "steward")).status_code == status
    assert client.post("/api/v1/datasets/snds-beneficiaries/sources",
                       files={"file": ("x.parquet", b"")},
                       headers=bearer(demo, "alice")).status_code == 403


def test_a_grant_whose_manifest_names_an_object_outside_the_extract_is_refused(
        client, engine, plane, demo):
    """A manifest signed by the control plane, but naming an object of another extract of
    the project (an older one, say): the endpoint must not serve it."""
    ref = prepared(engine, plane, demo.project_id)
    grant = {"Authorization": f"Bearer {ref.grant_token}"}
    prefix = ref.manifest_key.removesuffix("manifest.json")
    manifest = json.loads(plane.store.get_bytes(ref.manifest_key))
    entry = next(f for f in manifest["files"] if f["name"] == "snds-care")
    elsewhere = f"projects/{demo.project_id}/extracts/x-older/snds-care.parquet.enc"
    plane.store.put_bytes(elsewhere, plane.store.get_bytes(entry["object_key"]))
    entry["object_key"] = elsewhere
    body, signature = sign(manifest, plane.signing)
    plane.store.put_bytes(prefix + "manifest.json.sig", signature.encode())
    plane.store.put_bytes(prefix + "manifest.json", body)

    path = f"/api/v1/projects/{demo.project_id}/extract"
    for url in (path, f"{path}/files/snds-care"):
        refused = client.get(url, headers=grant)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "extract.manifest_refused"
        assert "outside its extract" in refused.json()["error"]["message"]
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "data.extract.fetch")
                        ).all()
    assert [(e.outcome, e.details["code"]) for e in events] == [
        ("denied", "extract.manifest_refused")] * 2
