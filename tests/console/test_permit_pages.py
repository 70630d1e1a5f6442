"""The permit manager's pages: list, a permit with its history, suspend / resume / revoke
with a reason, the kill switch behind a confirmation; auditors read, others are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
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


def new_permit(engine, client, pm_token: str) -> dict:
    researcher, _ = make_user(engine, Role.researcher)
    response = client.post("/api/v1/permits", headers=auth(pm_token),
                           json=permit_body(make_dataset(engine), [researcher]))
    assert response.status_code == 201, response.text
    return response.json()


def status_of(client, token: str, permit_id: str) -> str:
    return client.get(f"/api/v1/permits/{permit_id}", headers=auth(token)).json()["status"]


def test_suspend_resume_revoke_with_reasons_and_history(app, engine, client):
    pm_token = make_user(engine, Role.permit_manager)[1]
    permit = new_permit(engine, client, pm_token)
    pm = Browser(app, pm_token)
    listing = pm.get("/console/permits")
    assert listing.status_code == 200 and permit["reference"] in listing.text
    assert_strict(listing.text)
    page = pm.get(f"/console/permits/{permit['id']}")
    assert page.status_code == 200 and "Stop the project now" in page.text
    assert_strict(page.text)
    url = f"/console/permits/{permit['id']}"
    assert pm.post(f"{url}/suspend", {"reason": "audit"}, csrf=False).status_code == 403
    assert pm.post(f"{url}/suspend", {"reason": " "}).status_code == 422
    assert pm.post(f"{url}/suspend", {"reason": "ethics review"}).status_code == 303
    assert status_of(client, pm_token, permit["id"]) == "suspended"
    assert pm.post(f"{url}/resume", {"reason": "cleared"}).status_code == 303
    unconfirmed = pm.post(f"{url}/revoke", {"reason": "ended"})
    assert unconfirmed.status_code == 422 and "tick the confirmation" in unconfirmed.text
    assert status_of(client, pm_token, permit["id"]) != "revoked"
    assert pm.post(f"{url}/revoke", {"reason": "ended", "confirm": "yes"}).status_code == 303
    assert status_of(client, pm_token, permit["id"]) == "revoked"
    history = pm.get(url).text
    for reason in ("ethics review", "cleared", "ended"):
        assert reason in history


def test_kill_switch_needs_confirmation(app, engine, client):
    pm_token = make_user(engine, Role.permit_manager)[1]
    permit = new_permit(engine, client, pm_token)
    pm = Browser(app, pm_token)
    halt = f"/console/projects/{permit['project_id']}/halt"
    assert pm.post(halt, {"reason": "breach"}).status_code == 422
    assert status_of(client, pm_token, permit["id"]) == "granted"
    assert pm.post(halt, {"reason": "breach", "confirm": "yes"}, csrf=False).status_code == 403
    assert pm.post(halt, {"reason": "breach", "confirm": "yes"}).status_code == 303
    assert status_of(client, pm_token, permit["id"]) == "suspended"
    assert pm.post("/console/projects/p-nothere/halt",
                   {"reason": "x", "confirm": "yes"}).status_code == 404


def test_auditors_read_and_others_are_refused(app, engine, client):
    permit = new_permit(engine, client, make_user(engine, Role.permit_manager)[1])
    auditor = Browser(app, make_user(engine, Role.auditor)[1])
    page = auditor.get(f"/console/permits/{permit['id']}")
    assert page.status_code == 200 and "Suspend" not in page.text  # reads, does not act
    assert auditor.post(f"/console/permits/{permit['id']}/suspend",
                        {"reason": "x"}).status_code == 403
    for role in (Role.researcher, Role.output_checker, Role.data_steward):
        person = Browser(app, make_user(engine, role)[1])
        assert person.get("/console/permits").status_code == 403
        assert person.get(f"/console/permits/{permit['id']}").status_code == 403


def test_a_deployment_of_signed_decisions_refuses_unsigned_changes(app, engine, client):
    pm_token = make_user(engine, Role.permit_manager)[1]
    permit = new_permit(engine, client, pm_token)
    before = swap(app, settings=app.state.platform.settings.model_copy(
        update={"permits_require_signature": True}))
    try:
        refused = Browser(app, pm_token).post(f"/console/permits/{permit['id']}/suspend",
                                              {"reason": "x"})
    finally:
        app.state.platform = before
    assert refused.status_code == 403 and "signed decisions" in refused.text


def form_of(engine, researcher: str, **changes) -> dict:
    dataset = make_dataset(engine)
    today = datetime.now(UTC).date()
    return {"reference": unique("HDH-C").upper(), "issuer": "Health Data Hub",
            "project_title": "Care pathways", "purpose": "Study of care pathways",
            "principal_investigator": researcher, "members": f"{researcher}\n\n",
            "datasets": f"{dataset}: patient_id, diagnosis\n", "sdc_policy": "snds",
            "workspace_profile": "standard", "valid_from": str(today - timedelta(days=1)),
            "valid_until": str(today + timedelta(days=30)), **changes}


def test_record_amend_and_renew_a_permit_from_forms(app, engine, client):
    pm_token = make_user(engine, Role.permit_manager)[1]
    researcher, _ = make_user(engine, Role.researcher)
    colleague, _ = make_user(engine, Role.researcher)
    pm = Browser(app, pm_token)
    page = pm.get("/console/permits/new")
    assert page.status_code == 200 and 'name="datasets"' in page.text
    assert_strict(page.text)
    form = form_of(engine, researcher)
    assert pm.post("/console/permits", form, csrf=False).status_code == 403
    recorded = pm.post("/console/permits", form)
    assert recorded.status_code == 303, recorded.text
    permit = client.get(f"/api/v1/permits/{form['reference']}", headers=auth(pm_token)).json()
    assert permit["members"] == [researcher] and permit["project_id"]
    assert permit["datasets"][0]["variables"] == ["patient_id", "diagnosis"]
    assert recorded.headers["location"] == f"/console/permits/{permit['id']}"
    assert permit["valid_until"].startswith(form["valid_until"] + "T23:59:59")

    page = pm.get(f"/console/permits/{permit['id']}")
    assert "Amend the terms" in page.text and "Renew until" in page.text
    assert_strict(page.text)
    url = f"/console/permits/{permit['id']}"
    amended = pm.post(f"{url}/amend", {
        **{k: form[k] for k in ("project_title", "purpose", "principal_investigator",
                                "datasets", "sdc_policy", "workspace_profile")},
        "members": f"{researcher}\n{colleague}", "reason": "a colleague joins"})
    assert amended.status_code == 303, amended.text
    after = client.get(f"/api/v1/permits/{permit['id']}", headers=auth(pm_token)).json()
    assert after["members"] == sorted([researcher, colleague])
    assert after["status"] == "amended" and after["purpose"] == form["purpose"]
    history = client.get(f"/api/v1/permits/{permit['id']}/history",
                         headers=auth(pm_token)).json()["items"]
    assert history[-1]["changed"] == ["members"]  # only what the form changed

    until = str(datetime.now(UTC).date() + timedelta(days=90))
    assert pm.post(f"{url}/renew", {"valid_until": until, "reason": "extended"}
                   ).status_code == 303
    renewed = client.get(f"/api/v1/permits/{permit['id']}", headers=auth(pm_token)).json()
    assert renewed["status"] == "renewed" and renewed["valid_until"].startswith(until)


def test_form_mistakes_are_422_pages_naming_the_field_and_audited(app, engine, client):
    pm_token = make_user(engine, Role.permit_manager)[1]
    researcher, _ = make_user(engine, Role.researcher)
    pm = Browser(app, pm_token)
    for changes, words in [({"datasets": "no colon here"}, "dataset: variable"),
                           ({"valid_from": "31/12/2026"}, "valid_from: give a date"),
                           ({"members": ""}, "members"),
                           ({"sdc_policy": "nope"}, "nope"),
                           ({"valid_until": "2020-01-01"}, "valid_until")]:
        form = form_of(engine, researcher, **changes)
        refused = pm.post("/console/permits", form)
        assert refused.status_code == 422, (changes, refused.status_code, refused.text[:300])
        assert words in refused.text and "text/html" in refused.headers["content-type"]
        missing = client.get(f"/api/v1/permits/{form['reference']}", headers=auth(pm_token))
        assert missing.status_code == 404  # nothing half-written
    with Session(engine) as session:
        denied = session.exec(select(AuditEvent).where(AuditEvent.action == "permit.create",
                                                       AuditEvent.outcome == "denied")).all()
    assert len(denied) >= 4  # an empty required field is refused before the route, as in the API
    nobody = Browser(app, make_user(engine, Role.researcher)[1])
    assert nobody.get("/console/permits/new").status_code == 403
    assert nobody.post("/console/permits", form_of(engine, researcher)).status_code == 403


def test_a_signed_decision_is_applied_from_the_console(app, engine, client, tmp_path):
    key, issuers = permit_issuer(tmp_path, "https://hdh.example/permits")
    before = swap(app, settings=app.state.platform.settings.model_copy(
        update={"permit_issuers_file": issuers}))
    try:
        pm_token = make_user(engine, Role.permit_manager)[1]
        pm = Browser(app, pm_token)
        assert "Apply a signed decision" in pm.get("/console/permits").text
        reference = unique("HDH-J").upper()
        terms = {k: v for k, v in permit_body(make_dataset(engine),
                                              [make_user(engine, Role.researcher)[0]]).items()
                 if k not in {"reference", "issuer"}}
        token = sign_decision(key, "https://hdh.example/permits", "grant", reference, terms)
        applied = pm.post("/console/permits/decisions", {"jws": token})
        assert applied.status_code == 303, applied.text
        permit = client.get(f"/api/v1/permits/{reference}", headers=auth(pm_token)).json()
        assert permit["status"] == "granted"
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        refused = pm.post("/console/permits/decisions", {"jws": forged})
        assert refused.status_code in (400, 401, 403, 422) and "text/html" in \
            refused.headers["content-type"]
    finally:
        app.state.platform = before
