"""The permit manager's pages: list, a permit with its history, suspend / resume / revoke
with a reason, the kill switch behind a confirmation; auditors read, others are refused."""

from __future__ import annotations

from spe.domain.roles import Role
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import auth, make_dataset, make_user, permit_body


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
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"permits_require_signature": True})
    try:
        refused = Browser(app, pm_token).post(f"/console/permits/{permit['id']}/suspend",
                                              {"reason": "x"})
    finally:
        app.state.settings = settings
    assert refused.status_code == 403 and "signed decisions" in refused.text
