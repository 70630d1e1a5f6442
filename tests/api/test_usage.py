"""A project's usage: its members and staff read it (JSON, CSV); anyone else gets 404."""

from __future__ import annotations

import csv
import io

import pytest
from sqlmodel import Session, select

from controllers.usage import record
from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from spe.domain.usage import GIB, PROJECT, Sample
from testsupport.factories import auth, make_dataset, make_user, permit_body


@pytest.fixture(scope="module")
def world(client, engine, tokens):
    manager = auth(tokens[Role.permit_manager])
    dataset = make_dataset(engine)
    alice, alice_token = make_user(engine, Role.researcher)
    _bob, bob_token = make_user(engine, Role.researcher)
    r = client.post("/api/v1/permits", json=permit_body(dataset, [alice]), headers=manager)
    assert r.status_code == 201, r.text
    project = r.json()["project_id"]
    # two samples of alice's (summed), one of the project's hub, and its storage
    assert record(engine, [
        Sample(project, alice, cpu_seconds=5400, memory_gib_seconds=3600 * 2,
               memory_bytes=3 * GIB, storage_bytes=GIB),
        Sample(project, alice, cpu_seconds=1800, memory_gib_seconds=3600 * 2,
               memory_bytes=2 * GIB),
        Sample(project, PROJECT, cpu_seconds=360, storage_bytes=2 * GIB,
               extract_bytes=10 * GIB, extract_copies=1),
        Sample("p-unknown", alice, cpu_seconds=99),  # not a project: dropped
    ]) == 3
    return {"manager": manager, "alice": auth(alice_token), "alice_name": alice,
            "bob": auth(bob_token), "project": project}


def test_a_member_reads_her_projects_usage_per_member_with_its_footprint(client, world):
    r = client.get(f"/api/v1/projects/{world['project']}/usage", headers=world["alice"])
    assert r.status_code == 200, r.text
    body = r.json()
    members = {m["member"]: m for m in body["members"]}
    alice = members[world["alice_name"]]
    assert alice["cpu_hours"] == pytest.approx(2.0)
    assert alice["memory_gib_hours"] == pytest.approx(4.0)
    assert alice["peak_memory_gib"] == pytest.approx(3.0)
    assert alice["storage_gib"] == pytest.approx(1.0)
    assert alice["gpu_hours"] == 0
    # defaults: 12 W/core, 0.3725 W/GiB, PUE 1.67, 33 gCO2e/kWh
    kwh = (2.0 * 12 + 4.0 * 0.3725) * 1.67 / 1000
    assert alice["energy_kwh"] == pytest.approx(kwh)
    assert alice["carbon_g_co2e"] == pytest.approx(kwh * 33)
    total = body["total"]
    assert total["cpu_hours"] == pytest.approx(2.1)
    assert total["extract_gib"] == pytest.approx(10.0)
    assert total["extract_copies"] == 1 and alice["extract_copies"] == 0
    assert total["storage_gib"] == pytest.approx(3.0)
    assert body["runtime"] == "local"
    assert any("GPU-hours are 0" in note for note in body["notes"])
    assert body["coefficients"]["grams_co2e_per_kwh"] == 33


def test_another_researcher_is_told_it_does_not_exist(client, world):
    r = client.get(f"/api/v1/projects/{world['project']}/usage", headers=world["bob"])
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "project.not_found"


def test_a_permit_manager_reads_it_as_csv(client, world):
    r = client.get(f"/api/v1/projects/{world['project']}/usage?format=csv",
                   headers=world["manager"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert f'{world["project"]}-usage.csv' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["member"] for row in rows] == ["", world["alice_name"], "total"]
    assert {row["project_id"] for row in rows} == {world["project"]}
    assert float(rows[1]["cpu_hours"]) == pytest.approx(2.0)
    assert float(rows[2]["cpu_hours"]) == pytest.approx(2.1)


def test_an_unknown_format_is_refused(client, world):
    r = client.get(f"/api/v1/projects/{world['project']}/usage?format=xml",
                   headers=world["manager"])
    assert r.status_code == 422


# -- the permit's budget ------------------------------------------------------------------

def _budget_events(engine, project: str) -> list[tuple[str, str, dict]]:
    with Session(engine) as s:
        return [(e.action, e.outcome, e.details) for e in s.exec(
            select(AuditEvent).where(AuditEvent.target_id == project,
                                     AuditEvent.action.like("usage.budget.%"))
            .order_by(AuditEvent.seq))]


def test_a_permit_manager_sets_a_budget_the_members_see_it(client, engine, world):
    project = world["project"]
    url = f"/api/v1/projects/{project}/budget"
    r = client.put(url, json={"cpu_hours": 2.5, "warn_fraction": 0.5, "reason": "2027"},
                   headers=world["manager"])
    assert r.status_code == 200, r.text
    body = r.json()  # 2.1 CPU-hours used of 2.5: past the 50 % warning
    assert body["state"] == "warning" and body["used"] == {"cpu_hours": pytest.approx(2.1)}
    assert body["fraction"] == pytest.approx(2.1 / 2.5)
    usage = client.get(f"/api/v1/projects/{project}/usage", headers=world["alice"]).json()
    assert usage["budget"]["state"] == "warning" and usage["budget"]["cpu_hours"] == 2.5

    r = client.put(url, json={"cpu_hours": 2, "reason": "cut"}, headers=world["manager"])
    assert r.json()["state"] == "exhausted"
    assert client.delete(url, headers=world["manager"]).status_code == 204
    usage = client.get(f"/api/v1/projects/{project}/usage", headers=world["alice"]).json()
    assert usage["budget"] is None
    events = _budget_events(engine, project)
    assert [(a, o) for a, o, _ in events] == [("usage.budget.set", "success"),
                                              ("usage.budget.set", "success"),
                                              ("usage.budget.remove", "success")]
    assert events[0][2] == {"cpu_hours": 2.5, "warn_fraction": 0.5, "state": "warning",
                            "fraction": pytest.approx(0.84), "reason": "2027"}
    assert events[1][2]["state"] == "exhausted"


@pytest.mark.parametrize("body, reason", [
    ({"reason": "no limit"}, "at least one limit"),
    ({"cpu_hours": -1, "reason": "negative"}, "greater than 0"),
    ({"cpu_hours": 1, "warn_fraction": 1.5, "reason": "warn after the end"}, "less than 1"),
    ({"cpu_hours": 1}, "reason"),
])
def test_a_budget_without_a_limit_or_with_bad_figures_is_refused(client, world, body,
                                                                  reason):
    r = client.put(f"/api/v1/projects/{world['project']}/budget", json=body,
                   headers=world["manager"])
    assert r.status_code == 422
    assert reason in r.text


def test_budgets_of_unknown_projects_are_refused_and_audited(client, engine, world):
    r = client.put("/api/v1/projects/p-nothere/budget", json={"cpu_hours": 1, "reason": "x"},
                   headers=world["manager"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "project.not_found"
    r = client.delete(f"/api/v1/projects/{world['project']}/budget", headers=world["manager"])
    assert r.status_code == 404 and r.json()["error"]["code"] == "budget.not_found"
    assert _budget_events(engine, "p-nothere") == [
        ("usage.budget.set", "denied", {"code": "project.not_found",
                                        "reason": "no project 'p-nothere'"})]


def test_a_researcher_may_not_set_her_own_budget(client, world):
    r = client.put(f"/api/v1/projects/{world['project']}/budget",
                   json={"cpu_hours": 1e6, "reason": "more please"}, headers=world["alice"])
    assert r.status_code == 403


def test_a_change_in_the_extracts_plaintext_copies_is_audited_once(client, engine, tokens):
    manager = auth(tokens[Role.permit_manager])
    alice, _ = make_user(engine, Role.researcher)
    r = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [alice]),
                    headers=manager)
    project = r.json()["project_id"]
    for copies in (1, 1, 2, 1, None):  # None: not counted this time
        record(engine, [Sample(project, PROJECT, extract_copies=copies)])
    with Session(engine) as s:
        events = [e.details for e in s.exec(select(AuditEvent).where(
            AuditEvent.project_id == project, AuditEvent.action == "extract.copies.change")
            .order_by(AuditEvent.seq))]
    assert events == [{"copies": 1, "before": 0}, {"copies": 2, "before": 1},
                      {"copies": 1, "before": 2}]
    body = client.get(f"/api/v1/projects/{project}/usage", headers=manager).json()
    assert body["total"]["extract_copies"] == 1
