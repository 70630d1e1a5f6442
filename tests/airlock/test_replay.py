"""On submission, the airlock replays analysis-library tables on the project's real extract:
the demo's synthetic SNDS extract, prepared and encrypted by the data plane, decrypted by the
airlock; the researcher's copy is the decrypted files the data plane materialises."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from egress import tables
from egress.replay.engine import NotReplayable
from spe.airlock import replay as replay_module
from spe.airlock.replay import Bounds, ProjectExtract, audit_replays
from spe.audit.models import AuditEvent
from spe.domain.permits import Permit, PermitStatus
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.settings import Settings
from spe.web import create_app
from testsupport.platform import swap


@pytest.fixture
def engine(fresh_engine):
    return fresh_engine


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", public_url="http://127.0.0.1:9")


@pytest.fixture
def client(engine, settings, plane, demo):
    app = create_app(settings, engine)
    swap(app, data_plane=plane)
    app.state.reconcile_wake = threading.Event()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def workspace(engine, plane, demo, tmp_path) -> Path:
    """The extract prepared; its decrypted copy, as the workspace's data/."""
    with Session(engine) as s:
        project = s.get(Project, demo.project_id)
        plane.prepare(project, s.get(Permit, project.permit_id))
    (tmp_path / "outputs").mkdir()
    return tmp_path / "mnt" / demo.project_id


def _request(client, demo, tmp_path, *names) -> dict:
    files = [(n, (tmp_path / "outputs" / n).read_bytes()) for n in names]
    response = client.post(
        f"/api/v1/projects/{demo.project_id}/egress-requests",
        headers={"Authorization": f"Bearer {demo.tokens['alice'][1]}"},
        data={"title": "Care costs", "descriptions": ["from the extract, egress.tables"]},
        files=[("files", (n, d, "application/octet-stream")) for n, d in files])
    assert response.status_code == 201, response.text
    return response.json()


def _submit(client, demo, tmp_path, *names):
    return {f["name"]: f for f in _request(client, demo, tmp_path, *names)["files"]}


def test_a_submitted_table_is_replayed_on_the_extract_and_audited(client, engine, demo,
                                                                   workspace, tmp_path):
    care = tables.read_extract("snds-care", workspace)
    out = tmp_path / "outputs"
    tables.crosstab(care, "act_code", "icd10", where="cost_eur >= 5").to_csv(out / "n.csv")
    edited = tables.crosstab(care, "act_code", "icd10")
    edited.to_csv(out / "e.csv")
    (out / "e.csv").write_text((out / "e.csv").read_text().replace(",", ",1", 1))
    care["year"] = 2024
    tables.pivot_table(care, "cost_eur", "act_code", "year").to_csv(out / "d.csv")
    files = _submit(client, demo, tmp_path, "n.csv", "n.sdc.json", "e.csv", "e.sdc.json",
                    "d.csv", "d.sdc.json")
    assert files["n.csv"]["check"]["replay"]["status"] == "verified"
    assert files["n.csv"]["check"]["replay"]["rows_read"] == 40_000
    assert files["e.csv"]["check"]["replay"]["status"] == "mismatch"
    assert files["e.csv"]["outcome"] == "fail"
    assert files["d.csv"]["check"]["replay"]["status"] == "not replayable"
    assert files["d.csv"]["check"]["replay"]["spec"]["derived"] == ["year"]
    with Session(engine) as s:
        project = s.get(Project, demo.project_id)
        extract_id = project.conditions["extract"]["extract_id"]
        audited = s.exec(select(AuditEvent).where(AuditEvent.action == "egress.replay")).all()
    assert {e.details["file"]: e.details["status"] for e in audited} == {
        "n.csv": "verified", "e.csv": "mismatch", "d.csv": "not replayable"}
    first = next(e for e in audited if e.details["file"] == "n.csv")
    alice = next(e for e in audited if e.details["file"] == "n.csv")
    with Session(engine) as s:
        submitted = s.exec(select(AuditEvent).where(
            AuditEvent.action == "egress.request.submit")).one()
    assert (alice.actor_type, alice.actor_id) == (submitted.actor_type, submitted.actor_id)
    assert (first.target_id, first.outcome, first.project_id) == (
        extract_id, "success", demo.project_id)
    assert first.details["spec"]["where"] == "cost_eur >= 5"
    assert first.details["spec"]["table"] == "snds-care"


def _extract(engine, demo, plane, bounds=Bounds(60, 2 * 1024**3), status=None):
    with Session(engine) as s:
        project = s.get(Project, demo.project_id)
        permit = s.get(Permit, project.permit_id)
        if status is not None:
            permit.status = status
        return ProjectExtract(plane, project, permit, bounds)


def test_refused_for_a_permit_that_is_not_active(engine, demo, plane, workspace):
    for status in (PermitStatus.suspended, PermitStatus.revoked):
        extract = _extract(engine, demo, plane, status=status)
        with pytest.raises(NotReplayable, match="is not active: replays are refused"):
            extract.read("snds-care", ["act_code"], float("inf"))
        assert extract.refused


def test_bounded_in_memory(engine, demo, plane, workspace):
    small = _extract(engine, demo, plane, Bounds(60, 1000))
    with pytest.raises(NotReplayable, match="over the memory bound"):
        small.read("snds-care", ["act_code"], float("inf"))
    table = _extract(engine, demo, plane).read("snds-care", ["act_code", "cost_eur"],
                                               float("inf"))
    assert table.column_names == ["act_code", "cost_eur"] and table.num_rows == 40_000
    with pytest.raises(NotReplayable, match="no extract table 'other'"):
        _extract(engine, demo, plane).read("other", ["a"], float("inf"))
    with pytest.raises(NotReplayable, match="'prescriber_id' not a column"):
        _extract(engine, demo, plane).read("snds-care", ["prescriber_id"], float("inf"))


def test_a_returned_table_fixed_and_resubmitted_is_replayed_again(client, engine, demo,
                                                                  workspace, tmp_path):
    care = tables.read_extract("snds-care", workspace)
    out = tmp_path / "outputs"
    tables.crosstab(care, "act_code", "icd10").to_csv(out / "n.csv")
    good = (out / "n.csv").read_bytes()
    lines = good.decode().splitlines(keepends=True)
    lines[1] = lines[1].replace(",", ",9", 1)  # a count of the first row, edited
    (out / "n.csv").write_text("".join(lines))
    request = _request(client, demo, tmp_path, "n.csv", "n.sdc.json")
    rid = request["id"]
    [first] = [f for f in request["files"] if f["name"] == "n.csv"]
    assert first["check"]["replay"]["status"] == "mismatch"
    checker = {"Authorization": f"Bearer {demo.tokens['checker1'][1]}"}
    alice = {"Authorization": f"Bearer {demo.tokens['alice'][1]}"}
    returned = client.post(f"/api/v1/egress/requests/{rid}/return", headers=checker,
                           json={"comment": "the table differs from the extract"})
    assert returned.status_code == 200, returned.text
    replaced = client.put(f"/api/v1/egress/requests/{rid}/files/{first['id']}",
                          headers=alice, files={"file": ("n.csv", good)})
    assert replaced.status_code == 200, replaced.text
    again = client.post(f"/api/v1/egress/requests/{rid}/resubmit", headers=alice)
    assert again.status_code == 200, again.text
    [now] = [f for f in again.json()["files"] if f["name"] == "n.csv"]
    assert now["check"]["replay"]["status"] == "verified"
    with Session(engine) as s:
        statuses = [e.details["status"] for e in s.exec(
            select(AuditEvent).where(AuditEvent.action == "egress.replay")
            .order_by(AuditEvent.seq)).all()]
    assert statuses == ["mismatch", "verified"]


def test_a_refused_replay_is_audited_as_denied(engine, demo, plane, workspace):
    extract = _extract(engine, demo, plane, status=PermitStatus.suspended)
    record = {"sha256": "0" * 64, "replay": {
        "status": "not replayable", "reason": extract.refusal, "seconds": 0.0,
        "extract": extract.about, "spec": {"table": "snds-care"}}}
    with Session(engine) as s:
        alice = Principal(user_id="u-alice", subject="alice", roles=frozenset(), via="token")
        assert audit_replays(s, demo.project_id, "r-1", {"n.csv": record}, alice, extract) == 1
        s.commit()
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "egress.replay")).all()
    assert event.outcome == "denied" and "not active" in event.details["reason"]


def test_the_tables_of_a_request_decrypt_their_extract_table_once(engine, demo, plane,
                                                                    workspace, monkeypatch):
    fetched = []
    real = replay_module.verified_ciphertext
    monkeypatch.setattr(replay_module, "verified_ciphertext",
                        lambda store, entry: fetched.append(entry["name"]) or real(store, entry))
    extract = _extract(engine, demo, plane)
    for columns in (["act_code"], ["icd10", "cost_eur"], ["act_code"]):
        assert extract.read("snds-care", columns, float("inf")).column_names == columns
    extract.read("snds-beneficiaries", ["sex"], float("inf"))
    assert fetched == ["snds-care", "snds-beneficiaries"]
