"""The checker's view of every released table of a project overlapping a request: what it
names and links, what it leaves out (other populations, unrelated dimensions, other
projects), how it pages through hundreds of releases, who may see it, and axe-core on it in
Chromium."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, select

from egress.differencing.overlap import overlaps
from egress.differencing.tables import CountTable, Ledger
from spe.airlock.models import ReleaseLedger
from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import auth, make_dataset, make_user, permit_body

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
RELEASED_CSV = b"department,count\n971,30\n972,120\n973,40\n974,58\n"
NEW_CSV = b"department,sex,count\n971,F,15\n971,M,15\n975,F,20\n975,M,22\n"
ROWS = re.compile(r'<tr>\s*<th scope="row">(.*?)</th>', re.S)


def table(name: str, dims: list[str], labels: list[list[str]], population: str = "",
          origin: dict | None = None) -> CountTable:
    cells = {}
    for i, first in enumerate(labels[0]):
        key = (first,) if len(dims) == 1 else (first, labels[1][0])
        cells[key] = 20 + i
    return CountTable(name, dims, cells, population, {}, origin or {})


def test_overlaps_may_count_the_same_people_and_share_a_dimension_most_shared_first():
    new = table("new.csv", ["department", "sex"], [["971", "975"], ["F"]], population="snds")
    by_department = table("a.csv", ["department"], [["971", "972"]], population="snds")
    both = table("b.csv", ["sex", "department"], [["F"], ["971"]], population="snds")
    total = CountTable("total.csv", [], {(): 90}, "snds")
    other_population = table("c.csv", ["department"], [["971"]], population="deaths")
    unknown = table("e.csv", ["Department"], [["971"]])  # a plain CSV: may be any dataset
    unrelated = table("d.csv", ["age"], [["0-9"]], population="snds")
    found = overlaps(new, [by_department, both, total, other_population, unknown, unrelated])
    assert [o.table.name for o in found] == ["b.csv", "a.csv", "e.csv", "total.csv"]
    assert found[0].dims == ["sex", "department"]
    assert found[1].categories == {"department": ["971"]}
    assert found[2].dims == ["department"]  # read as the audit reads it: "Department"
    assert found[3].total and found[3].dims == []
    again = CountTable.from_json(by_department.to_json() | {"origin": {"release_id": "r"}})
    assert again.origin == {"release_id": "r"}


@dataclass
class Project:
    id: str
    researcher: str
    token: str
    released: dict  # the request released, with its files
    request: dict  # the request under review


def submit_csv(client, project_id: str, token: str, name: str, data: bytes) -> dict:
    response = client.post(
        f"/api/v1/projects/{project_id}/egress-requests", headers=auth(token),
        data={"title": f"Counts {name}", "descriptions": ["Counts by department"]},
        files=[("files", (name, data, "text/csv"))])
    assert response.status_code == 201, response.text
    return response.json()


def release(app, engine, request: dict) -> None:
    for _ in range(2):
        checker = Browser(app, make_user(engine, Role.output_checker)[1])
        for f in request["files"]:
            voted = checker.post(f"/console/review/{request['id']}/files/{f['id']}/vote",
                                 {"decision": "approve", "sha256": f["sha256"],
                                  "justification": "published elsewhere"})
            assert voted.status_code == 303, voted.text
    released = checker.post(f"/console/review/{request['id']}/release")
    assert released.status_code == 303, released.text


def add_to_ledger(engine, project_id: str, tables: list[CountTable]) -> None:
    with Session(engine) as session:
        row = session.get(ReleaseLedger, project_id) or ReleaseLedger(project_id=project_id)
        ledger = Ledger.from_json(row.ledger) if row.ledger else Ledger()
        for t in tables:
            ledger.add(t)
        row.ledger = ledger.to_json()
        session.add(row)
        session.commit()


def new_project(engine, client, tokens) -> tuple[str, str, str]:
    researcher, token = make_user(engine, Role.researcher)
    permit = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [researcher]),
                         headers=auth(tokens[Role.permit_manager])).json()
    return permit["project_id"], researcher, token


@pytest.fixture(scope="module")
def project(app, engine, client, tokens) -> Project:
    project_id, researcher, token = new_project(engine, client, tokens)
    released = submit_csv(client, project_id, token, "by-department.csv", RELEASED_CSV)
    release(app, engine, released)
    add_to_ledger(engine, project_id, [
        table("by-age.csv", ["age"], [["0-9", "10-19"]]),
        table("deaths-by-department.csv", ["department"], [["971"]], population="deaths")])
    other_id, _, _ = new_project(engine, client, tokens)
    add_to_ledger(engine, other_id, [table("elsewhere.csv", ["department"], [["971"]])])
    request = submit_csv(client, project_id, token, "by-department-and-sex.csv", NEW_CSV)
    return Project(project_id, researcher, token, released, request)


def test_the_checker_sees_every_overlapping_released_table_with_a_link(app, engine, project):
    checker = Browser(app, make_user(engine, Role.output_checker)[1])
    rid = project.request["id"]
    assert f'href="/console/review/{rid}/overlaps"' in checker.get(f"/console/review/{rid}").text
    page = checker.get(f"/console/review/{rid}/overlaps")
    assert page.status_code == 200, page.text
    assert_strict(page.text)
    released_file = project.released["files"][0]
    link = f'<a href="/console/review/{project.released["id"]}#file-{released_file["id"]}">' \
           "by-department.csv</a>"
    assert link in page.text
    rows = ROWS.findall(page.text)
    assert len(rows) == 2  # the age table shares nothing
    assert "<strong>department</strong>: 971" in page.text  # 975 was never released
    assert "deaths-by-department.csv" in page.text  # a plain CSV may count any dataset's
    for absent in ("by-age.csv", "elsewhere.csv"):  # nothing shared; another project's
        assert absent not in page.text
    with Session(engine) as session:
        viewed = session.exec(select(AuditEvent).where(
            AuditEvent.action == "egress.file.view",
            AuditEvent.target_id == project.request["files"][0]["id"])).all()
    assert viewed  # the request's files were read from quarantine, audited


def test_hundreds_of_releases_come_a_page_at_a_time(app, engine, client, tokens):
    project_id, _, token = new_project(engine, client, tokens)
    add_to_ledger(engine, project_id, [table(f"release-{i:03}.csv", ["department"],
                                             [["971"]]) for i in range(60)])
    rid = submit_csv(client, project_id, token, "new.csv", NEW_CSV)["id"]
    checker = Browser(app, make_user(engine, Role.output_checker)[1])
    first = checker.get(f"/console/review/{rid}/overlaps")
    assert "60 released tables overlap this one" in first.text
    assert len(ROWS.findall(first.text)) == 25 and "Page 1 of 3" in first.text
    assert "release not recorded" in first.text  # entered without an origin, no such file
    last = checker.get(f"/console/review/{rid}/overlaps?page=3")
    assert len(ROWS.findall(last.text)) == 10 and 'href="?page=2"' in last.text
    assert checker.get(f"/console/review/{rid}/overlaps?page=0").status_code == 422
    assert "Page 3 of 3" in checker.get(f"/console/review/{rid}/overlaps?page=9").text


def test_only_checkers_see_it(app, engine, project):
    path = f"/console/review/{project.request['id']}/overlaps"
    assert Browser(app, project.token).get(path).status_code == 403  # not even the requester
    assert Browser(app, make_user(engine, Role.researcher)[1]).get(path).status_code == 403
    assert Browser(app, make_user(engine, Role.output_checker)[1]) \
        .get("/console/review/no-such-request/overlaps").status_code == 404


def test_it_reads_in_french(app, engine, project):
    checker = Browser(app, make_user(engine, Role.output_checker)[1], language="fr")
    page = checker.get(f"/console/review/{project.request['id']}/overlaps").text
    assert "Tableaux diffusés recoupant" in page and "Dimensions communes" in page


def test_no_serious_accessibility_violation(app, engine, project):
    """axe-core in Debian's Chromium on the page, served by the app as it is under test."""
    from playwright.sync_api import sync_playwright

    checker = Browser(app, make_user(engine, Role.output_checker)[1])
    origin = "http://console.test"

    def serve(route) -> None:
        answer = checker.get(urlsplit(route.request.url).path)
        route.fulfill(status=answer.status_code, body=answer.content,
                      headers={k: v for k, v in answer.headers.items()
                               if k.lower() not in ("content-length", "content-encoding")})

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.route(f"{origin}/**", serve)
            for path in (f"/console/review/{project.request['id']}/overlaps",
                         f"/console/review/{project.request['id']}"):
                assert page.goto(origin + path).status == 200
                assert page.locator("h1").count() == 1
                page.evaluate(AXE.read_text())
                result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
                serious = [(v["id"], [n["target"] for n in v["nodes"]][:3])
                           for v in result["violations"]
                           if v["impact"] in ("serious", "critical")]
                assert serious == [], (path, serious)
        finally:
            browser.close()
