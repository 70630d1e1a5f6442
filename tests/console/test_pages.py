"""The console's pages under TestClient: access rules (the API's), CSRF, HTML errors for
browsers and JSON for API clients, the checker's whole path, and pages free of inline
script and style (they must run under a strict Content-Security-Policy)."""

from __future__ import annotations

import re

from spe.domain.roles import Role
from tests.console.conftest import HTML, Browser, submit
from testsupport.factories import auth, make_user

INLINE = [re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), re.compile(r"<style", re.I),
          re.compile(r"\sstyle\s*=", re.I), re.compile(r"\son[a-z]+\s*=", re.I),
          re.compile(r"javascript:", re.I)]


def assert_strict(html: str) -> None:
    """Nothing a strict CSP (no 'unsafe-inline') would block."""
    for pattern in INLINE:
        assert not pattern.search(html), pattern.pattern


def test_anonymous_browser_is_sent_to_sign_in_and_api_clients_get_json(client):
    page = client.get("/", headers=HTML, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/auth/login?next=%2F"
    api = client.get("/")
    assert api.status_code == 401 and api.json()["error"]["code"] == "auth.required"


def test_errors_are_pages_for_browsers_and_json_for_api_clients(app, engine):
    bob = Browser(app, make_user(engine, Role.researcher)[1])
    missing = bob.get("/console/requests/does-not-exist")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "no egress request" in missing.text
    assert_strict(missing.text)
    refused = bob.get("/console/review")
    assert refused.status_code == 403 and "needs one of the roles output_checker" in refused.text
    api = bob.http.get("/console/review", headers={"Accept": "application/json"})
    assert api.status_code == 403 and api.json()["error"]["code"] == "auth.forbidden"


def test_home_shows_me_my_projects_and_my_requests(app, engine, world):
    alice = Browser(app, world.alice_token)
    home = alice.get("/")
    assert home.status_code == 200, home.text
    assert world.alice in home.text and "researcher" in home.text
    assert world.project_id in home.text and "Overseas departments" in home.text
    assert "The workspace is not ready yet." in home.text  # no runtime in this test
    assert_strict(home.text)


def test_home_says_why_i_may_not_enter(app, engine, client, tokens, world):
    carol, carol_token = make_user(engine, Role.researcher)
    from testsupport.factories import make_dataset, permit_body
    permit = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [carol]),
                         headers=auth(tokens[Role.permit_manager])).json()
    suspended = client.post(f"/api/v1/permits/{permit['id']}/suspend",
                            json={"reason": "ethics review pending"},
                            headers=auth(tokens[Role.permit_manager]))
    assert suspended.status_code == 200, suspended.text
    home = Browser(app, carol_token).get("/").text
    assert "You may not enter:" in home and "the permit is suspended" in home
    assert "ethics review pending" in home


def test_bob_sees_nothing_of_alices_project(app, engine, world):
    bob = Browser(app, make_user(engine, Role.researcher)[1])
    home = bob.get("/").text
    assert world.project_id not in home and "Overseas departments" not in home
    assert "No permit names you." in home
    assert bob.get(f"/console/requests/{world.request['id']}").status_code == 404
    assert bob.get(f"/console/review/{world.request['id']}").status_code == 403
    file_id = world.request["files"][0]["id"]
    assert bob.get(f"/console/review/{world.request['id']}/files/{file_id}/image") \
        .status_code == 403


def test_checker_path_flags_image_blind_votes_release_revoke(app, engine, client, world):
    checker1 = Browser(app, make_user(engine, Role.output_checker)[1])
    checker2 = Browser(app, make_user(engine, Role.output_checker)[1])
    request = submit(client, world.project_id, world.alice_token)
    rid = request["id"]
    csv = next(f for f in request["files"] if f["name"] == "counts.csv")
    image = next(f for f in request["files"] if f["name"] == "figure.png")

    queue = checker1.get("/console/review")
    assert queue.status_code == 200 and f"/console/review/{rid}" in queue.text
    assert "waiting for me" in queue.text
    assert_strict(queue.text)

    page = checker1.get(f"/console/review/{rid}")
    assert page.status_code == 200, page.text
    assert_strict(page.text)
    flagged = re.findall(r'<td class="flagged sev-(\w+)"[^>]*><span class="value">([^<]*)</span>'
                         r'<span class="why">([^<]*)</span>', page.text)
    assert ("fail", "3", "threshold: 3 contributors, fewer than 11") in flagged
    assert ("fail", "0", "zeros: empty cell: zeros are disclosive under this pack") in flagged
    assert len(flagged) == 2  # 120 and 58 are not flagged
    assert f'src="/console/review/{rid}/files/{image["id"]}/image"' in page.text

    shown = checker1.get(f"/console/review/{rid}/files/{image['id']}/image")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert shown.headers["content-security-policy"].startswith("sandbox")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-disposition"].startswith("inline")
    not_image = checker1.get(f"/console/review/{rid}/files/{csv['id']}/image")
    assert not_image.headers["content-type"] == "application/octet-stream"
    assert not_image.headers["content-disposition"].startswith("attachment")

    vote_url = f"/console/review/{rid}/files/{csv['id']}/vote"
    approve = {"decision": "approve", "sha256": csv["sha256"]}
    assert checker1.post(vote_url, approve, csrf=False).status_code == 403
    unjustified = checker1.post(vote_url, approve)
    assert unjustified.status_code == 422
    assert "needs a written justification" in unjustified.text
    justified = approve | {"justification": "971 and 973 are published by INSEE"}
    assert checker1.post(vote_url, justified).status_code == 303
    assert checker1.post(f"/console/review/{rid}/files/{image['id']}/vote",
                         {"decision": "approve", "sha256": image["sha256"]}).status_code == 303

    blind = checker2.get(f"/console/review/{rid}").text
    assert "971 and 973 are published by INSEE" not in blind
    assert "Other votes stay hidden until the file has all its votes." in blind
    for f in (csv, image):
        body = {"decision": "approve", "sha256": f["sha256"], "justification": "agreed"}
        assert checker2.post(f"/console/review/{rid}/files/{f['id']}/vote", body) \
            .status_code == 303
    after = checker2.get(f"/console/review/{rid}").text
    assert "971 and 973 are published by INSEE" in after  # quorum reached: votes shown

    assert checker1.post(f"/console/review/{rid}/release", csrf=False).status_code == 403
    assert checker1.post(f"/console/review/{rid}/release").status_code == 303
    released = client.get(f"/api/v1/egress/requests/{rid}",
                          headers=auth(world.alice_token)).json()
    assert released["status"] == "released" and released["release_id"]

    mine = Browser(app, world.alice_token).get(f"/console/requests/{rid}")
    assert mine.status_code == 200 and csv["sha256"] in mine.text
    assert f"/api/v1/egress/releases/{released['release_id']}/files/{csv['id']}" in mine.text
    revoke = f"/console/releases/{released['release_id']}/revoke"
    assert checker1.post(revoke, {"comment": "drill"}, csrf=False).status_code == 403
    assert checker1.post(revoke, {"comment": "drill"}).status_code == 303
    assert client.get(f"/api/v1/egress/requests/{rid}",
                      headers=auth(world.alice_token)).json()["status"] == "revoked"


def test_the_requester_never_reviews(app, engine, client, world):
    both, token = make_user(engine, Role.researcher, Role.output_checker)
    from testsupport.factories import make_dataset, permit_body
    permit = client.post("/api/v1/permits", json=permit_body(make_dataset(engine), [both]),
                         headers=auth(make_user(engine, Role.permit_manager)[1])).json()
    request = submit(client, permit["project_id"], token)
    me = Browser(app, token)
    page = me.get(f"/console/review/{request['id']}").text
    assert 'action="/console/review/' not in page.split("<section class=\"actions\"")[0] \
        or "/vote" not in page
    f = request["files"][0]
    refused = me.post(f"/console/review/{request['id']}/files/{f['id']}/vote",
                      {"decision": "approve", "sha256": f["sha256"], "justification": "x"})
    assert refused.status_code == 403 and "never review their own request" in refused.text


def test_return_resubmit_withdraw_reject(app, engine, client, world):
    checker = Browser(app, make_user(engine, Role.output_checker)[1])
    alice = Browser(app, world.alice_token)
    rid = submit(client, world.project_id, world.alice_token)["id"]
    no_comment = checker.post(f"/console/review/{rid}/return", {"comment": ""})
    assert no_comment.status_code == 422
    assert checker.post(f"/console/review/{rid}/return", {"comment": "round it"}) \
        .status_code == 303
    page = alice.get(f"/console/requests/{rid}").text
    assert "round it" in page and "Resubmit" in page
    assert alice.post(f"/console/requests/{rid}/resubmit", csrf=False).status_code == 403
    assert alice.post(f"/console/requests/{rid}/resubmit").status_code == 303
    assert checker.post(f"/console/review/{rid}/reject", {"comment": "no"}).status_code == 303
    other = submit(client, world.project_id, world.alice_token)["id"]
    assert alice.post(f"/console/requests/{other}/withdraw", {"reason": "oops"}) \
        .status_code == 303
    statuses = [client.get(f"/api/v1/egress/requests/{r}", headers=auth(world.alice_token))
                .json()["status"] for r in (rid, other)]
    assert statuses == ["rejected", "withdrawn"]


def test_tokens_created_shown_once_and_revoked(app, engine):
    person = Browser(app, make_user(engine, Role.auditor)[1])
    assert person.post("/console/tokens", {"description": "cli"}, csrf=False) \
        .status_code == 403
    created = person.post("/console/tokens", {"description": "laptop cli", "hours": "4"})
    assert created.status_code == 201
    secret = re.search(r'<code class="secret">(spe_[^<]+)</code>', created.text).group(1)
    listed = person.get("/console/tokens").text
    assert "laptop cli" in listed and secret not in listed
    row = next(r for r in listed.split("<tr>") if "laptop cli" in r)
    token_id = re.search(r'action="/console/tokens/(\w+)/revoke"', row).group(1)
    assert person.post(f"/console/tokens/{token_id}/revoke").status_code == 303
    me = person.http.get("/api/v1/me", headers=auth(secret) | {"Accept": "application/json"})
    assert me.status_code == 401, me.text


def test_french_from_accept_language_and_the_switch(app, engine, world):
    alice = Browser(app, world.alice_token, language="fr-FR,fr;q=0.9,en;q=0.5")
    home = alice.get("/")
    assert home.headers["content-language"] == "fr"
    assert "Mes projets" in home.text and 'lang="fr"' in home.text
    switched = alice.get("/console/language?to=en&next=/")
    assert switched.status_code == 303 and switched.headers["location"] == "/"
    assert "My projects" in alice.get("/").text
    assert alice.get("/console/language?to=en&next=https://evil.example/") \
        .headers["location"] == "/"


def test_docs_work_offline(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert_strict(page.text)
    for asset in re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))


def test_project_page_for_members_and_staff_only(app, engine, world):
    alice = Browser(app, world.alice_token)
    page = alice.get(f"/console/projects/{world.project_id}")
    assert page.status_code == 200 and "Study of care pathways" in page.text
    assert world.alice in page.text and "Overseas departments" in page.text
    assert_strict(page.text)
    assert f'href="/console/projects/{world.project_id}"' in alice.get("/").text
    bob = Browser(app, make_user(engine, Role.researcher)[1])
    assert bob.get(f"/console/projects/{world.project_id}").status_code == 404
    auditor = Browser(app, make_user(engine, Role.auditor)[1])
    staff = auditor.get(f"/console/projects/{world.project_id}")
    assert staff.status_code == 200 and "Overseas departments" not in staff.text


def test_sign_out_needs_the_csrf_token(app, engine, world):
    alice = Browser(app, world.alice_token)
    refused = alice.post("/auth/logout", csrf=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert alice.get("/").status_code == 200  # still signed in
    assert alice.post("/auth/logout").status_code == 303
    assert alice.get("/").status_code == 303  # signed out: sent to sign in
