"""The auditor's pages: search by a person's name or e-mail with names beside ids, an event
with what the browser needs to check its proof, checkpoints; refused to other roles."""

from __future__ import annotations

import re

from spe.db import session_scope
from spe.domain.roles import Role
from spe.domain.users import find_by_subject
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import make_user


def named(engine, subject: str, name: str, email: str) -> None:
    with session_scope(engine) as session:
        user = find_by_subject(session, subject)
        user.display_name, user.email = name, email
        session.add(user)


def test_search_by_name_shows_names_beside_ids(app, engine, world):
    named(engine, world.alice, "Alice Martin", f"{world.alice}@chu.example")
    auditor = Browser(app, make_user(engine, Role.auditor)[1])
    page = auditor.get("/console/audit", params={"person": "alice mart", "action": "egress."})
    assert page.status_code == 200, page.text
    assert_strict(page.text)
    assert "egress.request.submit" in page.text and "Alice Martin" in page.text
    assert f"{world.alice}@chu.example" in page.text
    assert "auth.login" not in page.text  # the action filter holds
    by_mail = auditor.get("/console/audit", params={"person": f"{world.alice}@chu.example",
                                                    "outcome": "success"})
    assert "egress.request.submit" in by_mail.text
    empty_times = auditor.get("/console/audit", params={"person": "alice mart", "since": "",
                                                        "until": ""})
    assert empty_times.status_code == 200 and "Alice Martin" in empty_times.text
    later = auditor.get("/console/audit", params={"person": "alice mart",
                                                  "since": "2999-01-01T00:00"})
    assert later.status_code == 200 and "No event matches." in later.text
    bad = auditor.get("/console/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since: not a date and time" in bad.text
    nobody = auditor.get("/console/audit", params={"person": "no such person anywhere"})
    assert "Nobody matches that person." in nobody.text and "<table class=\"events\"" \
        not in nobody.text


def test_event_page_and_checkpoints(app, engine, world):
    auditor = Browser(app, make_user(engine, Role.auditor)[1])
    listing = auditor.get("/console/audit", params={"action": "egress.request.submit"}).text
    seq = int(re.search(r'href="/console/audit/events/(\d+)"', listing).group(1))
    before = auditor.get(f"/console/audit/events/{seq}")
    assert before.status_code == 200 and 'id="proof"' in before.text
    assert_strict(before.text)
    if "Sign a checkpoint now" in before.text:
        assert auditor.post("/console/audit/checkpoints", {"event": str(seq)}, csrf=False) \
            .status_code == 403
        signed = auditor.post("/console/audit/checkpoints", {"event": str(seq)})
        assert signed.status_code == 303
        assert signed.headers["location"] == f"/console/audit/events/{seq}"
    after = auditor.get(f"/console/audit/events/{seq}").text
    assert 'id="proof-status"' in after and f'data-seq="{seq}"' in after
    assert '/console/static/audit-proof.js' in after
    checkpoints = auditor.get("/console/audit/checkpoints").text
    assert re.search(r"<code class=\"hash\">[0-9a-f]{64}</code>", checkpoints)


def test_others_may_not_read_the_log(app, engine, world):
    for role in (Role.researcher, Role.output_checker, Role.permit_manager):
        person = Browser(app, make_user(engine, role)[1])
        assert person.get("/console/audit").status_code == 403
        assert person.get("/console/audit/events/0").status_code == 403
        assert person.post("/console/audit/checkpoints").status_code == 403
