"""The project page shows the project's usage and budget, with the access rules of
GET /api/v1/projects/{id}/usage: its members and staff see it, anyone else gets 404."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from controllers.usage import record
from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from spe.domain.usage import GIB, PROJECT, Sample
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import auth, make_dataset, make_user, permit_body


@pytest.fixture(scope="module")
def measured(client, engine, tokens):
    """A project of its own, with alice's and the project's usage and a budget 90 % spent."""
    alice, alice_token = make_user(engine, Role.researcher)
    manager = auth(tokens[Role.permit_manager])
    permit = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [alice]),
                         headers=manager).json()
    project = permit["project_id"]
    record(engine, [Sample(project, alice, cpu_seconds=3 * 3600 + 1800,
                           memory_gib_seconds=7200, memory_bytes=2 * GIB, storage_bytes=GIB),
                    Sample(project, PROJECT, cpu_seconds=1800, extract_bytes=5 * GIB,
                           extract_copies=1)])
    r = client.put(f"/api/v1/projects/{project}/budget", headers=manager,
                   json={"cpu_hours": 4.2, "warn_fraction": 0.75, "reason": "allocation"})
    assert r.status_code == 200 and r.json()["state"] == "warning", r.text
    return project, alice, alice_token


def cells(html: str, row_header: str) -> list[str]:
    row = re.search(rf'<tr><th scope="row">{re.escape(row_header)}</th>(.*?)</tr>', html)
    assert row, f"no row {row_header!r}"
    return re.findall(r"<td>([^<]*)</td>", row.group(1))


def test_a_member_sees_her_usage_the_projects_and_the_budget(app, measured):
    project, alice, token = measured
    page = Browser(app, token).get(f"/console/projects/{project}")
    assert page.status_code == 200
    assert_strict(page.text)
    # CPU-h, memory GiB-h, peak GiB, GPU-h, storage GiB, extract GiB, kWh, gCO2e
    kwh = (3.5 * 12 + 2 * 0.3725) * 1.67 / 1000
    assert cells(page.text, alice) == ["3.50", "2.00", "2.00", "0.00", "1.00", "0.00",
                                       f"{kwh:.3f}", f"{kwh * 33:.2f}"]
    assert cells(page.text, "the project (hub, shared folders)")[0] == "0.50"
    assert cells(page.text, "Total")[:6] == ["4.00", "2.00", "2.00", "0.00", "1.00", "5.00"]
    assert "Budget: nearly spent" in page.text
    assert "95 % of the most used limit" in page.text
    assert "CPU-hours 4.00 / 4.20" in page.text
    assert "Decrypted copies of the extract: 1 (one is shared by every member)." in page.text
    assert "12.0 W per core, PUE 1.67, 33 gCO2e per kWh" in page.text
    # the export links answer in her browser session, with the same figures
    link = re.search(r'href="([^"]+format=csv)"', page.text).group(1)
    exported = Browser(app, token).get(link)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith(
        "text/csv")
    assert f"{project},{alice},3.500000" in exported.text
    assert exported.text.splitlines()[0].split(",")[8] == "extract_copies"


def test_staff_see_it_in_french_and_a_spent_budget_says_what_it_stops(app, engine, client,
                                                                      tokens, measured):
    project, alice, _ = measured
    client.put(f"/api/v1/projects/{project}/budget", headers=auth(tokens[Role.permit_manager]),
               json={"cpu_hours": 4, "reason": "cut"})
    auditor = Browser(app, make_user(engine, Role.auditor)[1], language="fr")
    page = auditor.get(f"/console/projects/{project}")
    assert page.status_code == 200
    assert "Consommation et empreinte" in page.text and "Budget: épuisé" in page.text
    assert cells(page.text, alice)[0] == "3,50"  # French decimals
    assert "Aucun nouveau serveur" in page.text


def test_another_researcher_gets_404_as_on_the_api(app, engine, client, measured):
    project, _, _ = measured
    _bob, bob_token = make_user(engine, Role.researcher)
    assert Browser(app, bob_token).get(f"/console/projects/{project}").status_code == 404
    assert client.get(f"/api/v1/projects/{project}/usage",
                      headers=auth(bob_token)).status_code == 404


def test_a_project_with_nothing_measured_says_so(app, engine, client, tokens):
    alice, token = make_user(engine, Role.researcher)
    permit = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [alice]),
                         headers=auth(tokens[Role.permit_manager])).json()
    page = Browser(app, token).get(f"/console/projects/{permit['project_id']}")
    assert "Nothing measured yet." in page.text and 'class="usage"' not in page.text


def test_a_permit_manager_sets_and_removes_the_budget_from_the_page(app, engine, client,
                                                                    tokens, measured):
    project, _alice, alice_token = measured
    manager = Browser(app, tokens[Role.permit_manager])
    page = manager.get(f"/console/projects/{project}")
    assert f'action="/console/projects/{project}/budget"' in page.text
    assert_strict(page.text)

    done = manager.post(f"/console/projects/{project}/budget",
                        {"cpu_hours": "4,5", "gpu_hours": "", "carbon_g_co2e": "",
                         "warn_percent": "95", "reason": "from the console"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/projects/{project}#usage"
    budget = client.get(f"/api/v1/projects/{project}/usage",
                        headers=auth(alice_token)).json()["budget"]
    assert (budget["cpu_hours"], budget["warn_fraction"], budget["state"]) == (
        4.5, 0.95, "within")  # 4.0 of 4.5 CPU-hours: 89 %, under the 95 % warning

    refused = manager.post(f"/console/projects/{project}/budget",
                           {"cpu_hours": "lots", "reason": "typo"})
    assert refused.status_code == 422 and "is not a number" in refused.text
    refused = manager.post(f"/console/projects/{project}/budget", {"reason": "no limit"})
    assert refused.status_code == 422 and "at least one limit" in refused.text
    assert manager.post(f"/console/projects/{project}/budget/remove").status_code == 303
    assert client.get(f"/api/v1/projects/{project}/usage",
                      headers=auth(alice_token)).json()["budget"] is None

    with Session(engine) as s:
        events = [(e.action, e.outcome, e.details.get("code")) for e in s.exec(
            select(AuditEvent).where(AuditEvent.target_id == project,
                                     AuditEvent.action.like("usage.budget.%"))
            .order_by(AuditEvent.seq))]
    assert events[-4:] == [("usage.budget.set", "success", None),
                           ("usage.budget.set", "denied", "budget.not_a_number"),
                           ("usage.budget.set", "denied", "budget.invalid"),
                           ("usage.budget.remove", "success", None)]


def test_a_researcher_sees_no_budget_form_and_may_not_post_one(app, measured):
    project, _alice, token = measured
    alice = Browser(app, token)
    assert "/budget\"" not in alice.get(f"/console/projects/{project}").text
    assert alice.post(f"/console/projects/{project}/budget",
                      {"cpu_hours": "1000", "reason": "more"}).status_code == 403
