"""The data steward's pages: the catalogue, a dataset, a source upload accepted, and one
refused with its schema mismatches column by column (and audited)."""

from __future__ import annotations

from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.datasets import Dataset
from spe.domain.roles import Role
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import make_dataset, make_user

GOOD = b"patient_id,birth_year,diagnosis,cost\np1,1970,I10,12.5\np2,1982,E11,40\n"
BAD = b"patient_id,birth_year,diagnostic\np1,nineteen,I10\n"


def test_catalogue_upload_and_refusal(app, engine):
    name = make_dataset(engine)
    steward = Browser(app, make_user(engine, Role.data_steward)[1])
    catalogue = steward.get("/console/datasets")
    assert catalogue.status_code == 200 and f'href="/console/datasets/{name}"' in catalogue.text
    page = steward.get(f"/console/datasets/{name}")
    assert page.status_code == 200 and "patient_id" in page.text and "data-upload" in page.text
    assert_strict(page.text)
    url = f"/console/datasets/{name}/source"
    without = steward.http.post(url, files={"file": ("s.csv", GOOD, "text/csv")},
                                follow_redirects=False)
    assert without.status_code == 403
    refused = steward.http.post(url, data={"csrf": steward.csrf},
                                files={"file": ("s.csv", BAD, "text/csv")},
                                follow_redirects=False)
    assert refused.status_code == 422, refused.text
    assert_strict(refused.text)
    assert "The file was refused" in refused.text
    assert "<code>diagnostic</code>" in refused.text and "<code>cost</code>" in refused.text
    with Session(engine) as session:
        denied = session.exec(select(AuditEvent).where(
            AuditEvent.action == "dataset.source.register", AuditEvent.target_id == name,
            AuditEvent.outcome == "denied")).all()
    assert denied
    accepted = steward.http.post(url, data={"csrf": steward.csrf},
                                 files={"file": ("s.csv", GOOD, "text/csv")},
                                 follow_redirects=False)
    assert accepted.status_code == 303, accepted.text
    assert f"sources/{name}/" in steward.get(f"/console/datasets/{name}").text


def test_a_french_steward_reads_the_schema_problems_in_french(app, engine):
    name = make_dataset(engine)
    steward = Browser(app, make_user(engine, Role.data_steward)[1], language="fr-FR,fr")
    refused = steward.http.post(f"/console/datasets/{name}/source",
                                data={"csrf": steward.csrf},
                                files={"file": ("s.csv", BAD, "text/csv")},
                                follow_redirects=False)
    assert refused.status_code == 422, refused.text
    text = refused.text.replace("&#39;", "'")
    assert "la colonne 'diagnostic' est dans le fichier mais pas au catalogue" in text
    assert "la variable 'cost' (number) est au catalogue mais pas dans le fichier" in text
    assert "<td>inattendue</td>" in text and "<td>absente</td>" in text
    assert "le fichier ne correspond pas au catalogue : " in text
    assert "in the catalogue but not in the file" not in text
    assert "<td>missing</td>" not in text


def test_readers_and_others(app, engine):
    name = make_dataset(engine)
    auditor = Browser(app, make_user(engine, Role.auditor)[1])
    page = auditor.get(f"/console/datasets/{name}")
    assert page.status_code == 200 and "data-upload" not in page.text
    assert auditor.http.post(f"/console/datasets/{name}/source", data={"csrf": auditor.csrf},
                             files={"file": ("s.csv", GOOD, "text/csv")},
                             follow_redirects=False).status_code == 403
    researcher = Browser(app, make_user(engine, Role.researcher)[1])
    assert researcher.get("/console/datasets").status_code == 403


def test_a_steward_registers_a_dataset(app, engine, client):
    steward = Browser(app, make_user(engine, Role.data_steward)[1])
    assert "Register a dataset" in steward.get("/console/datasets").text
    name = "cohort-" + make_user(engine, Role.researcher)[0][-6:].lower()
    form = {"name": name, "holder": "CNAM", "description": "A cohort",
            "variables": "patient_id string direct_identifier The person\n"
                         "birth_year integer quasi_identifier\n\ncost number other"}
    registered = steward.post("/console/datasets", form)
    assert registered.status_code == 303, registered.text
    page = steward.get(f"/console/datasets/{name}")
    assert page.status_code == 200 and "birth_year" in page.text
    with Session(engine) as session:
        dataset = session.exec(select(Dataset).where(Dataset.name == name)).one()
    assert [(v["name"], v["type"], v["classification"], v["description"])
            for v in dataset.variables] == [
        ("patient_id", "string", "direct_identifier", "The person"),
        ("birth_year", "integer", "quasi_identifier", ""), ("cost", "number", "other", "")]
    bad = steward.post("/console/datasets", {**form, "name": name + "-2",
                                             "variables": "x string secret"})
    assert bad.status_code == 422 and "classification" in bad.text
    assert steward.get(f"/console/datasets/{name}-2").status_code == 404
    with Session(engine) as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "dataset.create",
                                                     AuditEvent.outcome == "denied",
                                                     AuditEvent.target_id == name + "-2")).all()
    reader = Browser(app, make_user(engine, Role.auditor)[1])
    assert "Register a dataset" not in reader.get("/console/datasets").text
    assert reader.post("/console/datasets", {**form, "name": name + "-3"}).status_code == 403
