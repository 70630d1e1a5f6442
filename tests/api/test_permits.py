"""The permit lifecycle through the API: every transition, every illegal one, the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, make_user, permit_body


@pytest.fixture(scope="module")
def manager(tokens):
    return auth(tokens[Role.permit_manager])


@pytest.fixture(scope="module")
def dataset(engine):
    return make_dataset(engine)


def create(client, manager, dataset, **kw):
    alice, _ = kw.pop("member", None) or ("alice", None)
    response = client.post("/api/v1/permits", json=permit_body(dataset, [alice], **kw),
                           headers=manager)
    assert response.status_code == 201, response.text
    return response.json()


def actions_for(engine, permit_id: str) -> list[str]:
    with Session(engine) as s:
        return [e.action for e in s.exec(select(AuditEvent)
                                         .where(AuditEvent.target_id == permit_id)
                                         .order_by(AuditEvent.seq))]


def test_full_lifecycle(client, manager, dataset, engine):
    permit = create(client, manager, dataset)
    assert permit["status"] == "granted" and permit["active"] and permit["project_id"]
    assert permit["allowed_actions"] == ["amend", "renew", "suspend", "revoke"]
    pid = permit["id"]

    amended = client.post(f"/api/v1/permits/{pid}/amend", headers=manager, json={
        "purpose": "Extended study", "reason": "scope widened"}).json()
    assert amended["status"] == "amended" and amended["version"] == 2
    assert amended["purpose"] == "Extended study"

    until = (datetime.fromisoformat(permit["valid_until"]) + timedelta(days=90)).isoformat()
    renewed = client.post(f"/api/v1/permits/{pid}/renew", headers=manager,
                          json={"valid_until": until}).json()
    assert renewed["status"] == "renewed" and renewed["version"] == 3

    suspended = client.post(f"/api/v1/permits/{pid}/suspend", headers=manager,
                            json={"reason": "incident"}).json()
    assert suspended["status"] == "suspended" and not suspended["active"]
    assert suspended["allowed_actions"] == ["resume", "revoke"]
    resumed = client.post(f"/api/v1/permits/{pid}/resume", headers=manager, json={}).json()
    assert resumed["status"] == "renewed" and resumed["active"]

    revoked = client.post(f"/api/v1/permits/{pid}/revoke", headers=manager,
                          json={"reason": "breach"}).json()
    assert revoked["status"] == "revoked" and revoked["status_reason"] == "breach"

    history = client.get(f"/api/v1/permits/{pid}/history", headers=manager).json()["items"]
    assert [h["action"] for h in history] == ["create", "amend", "renew", "suspend", "resume",
                                              "revoke"]
    assert history[1]["changed"] == ["purpose"] and history[1]["reason"] == "scope widened"
    assert history[1]["snapshot"]["purpose"] == "Extended study"
    assert actions_for(engine, pid) == ["permit.create", "permit.amend", "permit.renew",
                                        "permit.suspend", "permit.resume", "permit.revoke"]


@pytest.mark.parametrize("path,body", [
    ("amend", {"purpose": "x", "reason": "r"}),
    ("renew", {"valid_until": "2099-01-01T00:00:00Z"}),
    ("suspend", {"reason": "r"}),
    ("resume", {}),
    ("revoke", {"reason": "r"}),
])
def test_nothing_leaves_revoked(client, manager, dataset, path, body):
    permit = create(client, manager, dataset)
    client.post(f"/api/v1/permits/{permit['id']}/revoke", headers=manager, json={"reason": "r"})
    response = client.post(f"/api/v1/permits/{permit['id']}/{path}", headers=manager, json=body)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "permit.invalid_transition"
    assert "revoked" in error["message"]


def test_resume_needs_suspension(client, manager, dataset):
    permit = create(client, manager, dataset)
    response = client.post(f"/api/v1/permits/{permit['id']}/resume", headers=manager, json={})
    assert response.status_code == 409
    assert "granted" in response.json()["error"]["message"]


def test_expired_by_date_is_never_active(client, manager, dataset):
    permit = create(client, manager, dataset, days=1, starts_in_days=-2)
    assert permit["status"] == "granted"
    assert permit["effective_status"] == "expired" and not permit["active"]
    response = client.post(f"/api/v1/permits/{permit['id']}/amend", headers=manager,
                           json={"purpose": "x", "reason": "late"})
    assert response.status_code == 409


def test_renewal_must_extend(client, manager, dataset):
    permit = create(client, manager, dataset)
    response = client.post(f"/api/v1/permits/{permit['id']}/renew", headers=manager,
                           json={"valid_until": datetime.now(UTC).isoformat()})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "permit.renewal_not_later"


def test_amend_members_and_variables(client, manager, dataset, engine):
    bob, _ = make_user(engine, Role.researcher)
    permit = create(client, manager, dataset)
    amended = client.post(f"/api/v1/permits/{permit['id']}/amend", headers=manager, json={
        "members": ["alice", bob], "reason": "new analyst",
        "datasets": [{"dataset": dataset, "variables": ["patient_id", "cost"]}]}).json()
    assert amended["members"] == sorted(["alice", bob])
    assert amended["datasets"] == [{"dataset": dataset, "variables": ["patient_id", "cost"]}]


@pytest.mark.parametrize("change,code", [
    ({"datasets": [{"dataset": "nope", "variables": ["a"]}]}, "permit.unknown_dataset"),
    ({"sdc_policy": "lenient"}, "permit.unknown_policy"),
])
def test_bad_terms_refused(client, manager, dataset, change, code):
    body = {**permit_body(dataset, ["alice"]), **change}
    response = client.post("/api/v1/permits", json=body, headers=manager)
    assert response.status_code == 422 and response.json()["error"]["code"] == code


def test_unknown_variable_refused(client, manager, dataset):
    body = permit_body(dataset, ["alice"])
    body["datasets"][0]["variables"].append("nir_secret")
    response = client.post("/api/v1/permits", json=body, headers=manager)
    assert response.status_code == 422
    assert "nir_secret" in response.json()["error"]["message"]


def test_duplicate_reference_conflicts(client, manager, dataset):
    permit = create(client, manager, dataset)
    body = permit_body(dataset, ["alice"], reference=permit["reference"])
    assert client.post("/api/v1/permits", json=body, headers=manager).status_code == 409


def test_lookup_by_reference(client, manager, dataset):
    permit = create(client, manager, dataset)
    got = client.get(f"/api/v1/permits/{permit['reference']}", headers=manager).json()
    assert got["id"] == permit["id"]
