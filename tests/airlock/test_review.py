"""Every rule of the review state machine, through the API; each refusal is audited."""

from __future__ import annotations

from tests.airlock.conftest import (
    FAIL_CSV,
    OK_CSV,
    auth,
    denied,
    events,
    file_named,
    read,
    submit,
    vote,
)


def submitted(client, project, files=None, token=None) -> dict:
    response = submit(client, project.id, token or project.researcher_token,
                      files or [("counts.csv", OK_CSV)])
    assert response.status_code == 201, response.text
    return response.json()


def post(client, token, request, step, **body):
    return client.post(f"/api/v1/egress/requests/{request['id']}/{step}", headers=auth(token),
                       json=body)


def test_submission_is_checked_and_audited(client, engine, project):
    request = submitted(client, project, [("counts.csv", OK_CSV), ("small.csv", FAIL_CSV)])
    assert request["status"] == "checked"
    assert file_named(request, "counts.csv")["outcome"] == "pass"
    assert file_named(request, "small.csv")["outcome"] == "fail"
    assert file_named(request, "small.csv")["check"]["flags"]
    assert events(engine, "egress.request.submit", request["id"])
    assert events(engine, "egress.request.check", request["id"])


def test_the_requester_can_never_vote(client, engine, project):
    """The colleague holds researcher and output_checker; as requester they may not vote."""
    request = submitted(client, project, token=project.colleague_token)
    response = vote(client, project.colleague_token, request, request["files"][0])
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "egress.self_review"
    assert denied(engine, "egress.file.vote", "egress.self_review")


def test_a_permit_member_may_not_vote(client, engine, project):
    request = submitted(client, project)
    response = vote(client, project.colleague_token, request, request["files"][0])
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "egress.not_independent"
    assert denied(engine, "egress.file.vote", "egress.not_independent")


def test_one_approval_is_not_a_quorum(client, engine, project, checkers):
    request = submitted(client, project)
    assert vote(client, checkers[0][1], request, request["files"][0]).status_code == 201
    assert read(client, checkers[0][1], request["id"])["status"] == "in_review"
    response = post(client, checkers[0][1], request, "release")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "egress.invalid_transition"
    assert denied(engine, "egress.request.release", "egress.invalid_transition")
    assert vote(client, checkers[1][1], request, request["files"][0]).status_code == 201
    assert read(client, checkers[0][1], request["id"])["status"] == "approved"


def test_a_checker_votes_once_per_file_version(client, engine, project, checkers):
    request = submitted(client, project)
    assert vote(client, checkers[0][1], request, request["files"][0]).status_code == 201
    response = vote(client, checkers[0][1], request, request["files"][0])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "egress.already_voted"
    assert denied(engine, "egress.file.vote", "egress.already_voted")


def test_votes_are_blind_until_the_file_has_all_its_votes(client, project, checkers):
    request = submitted(client, project)
    (first, first_token), (_, second_token) = checkers[:2]
    vote(client, first_token, request, request["files"][0], "request_changes",
         comment="round the counts")
    mine = file_named(read(client, first_token, request["id"]), "counts.csv")
    assert mine["my_vote"]["decision"] == "request_changes" and mine["votes"] is None
    theirs = file_named(read(client, second_token, request["id"]), "counts.csv")
    assert theirs["my_vote"] is None and theirs["votes"] is None
    assert file_named(read(client, project.researcher_token, request["id"]),
                      "counts.csv")["votes"] is None
    vote(client, second_token, request, request["files"][0])
    both = file_named(read(client, second_token, request["id"]), "counts.csv")
    assert both["votes_complete"]
    assert {v["reviewer"] for v in both["votes"]} == {first, checkers[1][0]}
    assert read(client, project.researcher_token, request["id"])["files"][0]["votes"] is None


def test_approving_a_failed_file_needs_a_justification(client, engine, project, checkers):
    request = submitted(client, project, [("small.csv", FAIL_CSV)])
    response = vote(client, checkers[0][1], request, request["files"][0])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "egress.justification_required"
    assert denied(engine, "egress.file.vote", "egress.justification_required")
    response = vote(client, checkers[0][1], request, request["files"][0],
                    justification="the 3 is a count of hospitals, not of people")
    assert response.status_code == 201


def test_returning_needs_a_public_comment(client, engine, project, checkers):
    request = submitted(client, project)
    response = post(client, checkers[0][1], request, "return", comment="  ")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "egress.comment_required"
    assert denied(engine, "egress.request.return", "egress.comment_required")
    response = post(client, checkers[0][1], request, "return", comment="suppress south")
    assert response.status_code == 200
    mine = read(client, project.researcher_token, request["id"])
    assert mine["status"] == "changes_requested" and mine["status_comment"] == "suppress south"


def test_a_changed_file_resets_its_votes(client, engine, project, checkers):
    request = submitted(client, project, [("counts.csv", OK_CSV), ("notes.md", b"# Notes\n")])
    old = file_named(request, "counts.csv")
    vote(client, checkers[0][1], request, old)
    post(client, checkers[1][1], request, "return", comment="add a total row")
    new_bytes = OK_CSV + b"east,40\n"
    response = client.put(f"/api/v1/egress/requests/{request['id']}/files/{old['id']}",
                          headers=auth(project.researcher_token),
                          files={"file": ("counts.csv", new_bytes)})
    assert response.status_code == 200, response.text
    assert post(client, project.researcher_token, request, "resubmit").json()["status"] \
        == "checked"
    view = file_named(read(client, checkers[0][1], request["id"]), "counts.csv")
    assert view["version"] == 2 and view["my_vote"] is None and view["can_vote"]
    response = vote(client, checkers[0][1], request, old)  # the sha256 of version 1
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "egress.file_changed"
    assert denied(engine, "egress.file.vote", "egress.file_changed")
    assert vote(client, checkers[0][1], request, view).status_code == 201


def test_files_change_only_when_changes_were_requested(client, engine, project):
    request = submitted(client, project)
    response = client.put(
        f"/api/v1/egress/requests/{request['id']}/files/{request['files'][0]['id']}",
        headers=auth(project.researcher_token), files={"file": ("counts.csv", b"a,count\n")})
    assert response.status_code == 409
    assert denied(engine, "egress.file.replace", "egress.not_returned")


def test_only_the_requester_withdraws_and_only_before_release(client, engine, project):
    request = submitted(client, project)
    response = post(client, project.colleague_token, request, "withdraw")
    assert response.status_code == 403
    assert denied(engine, "egress.request.withdraw", "egress.not_requester")
    response = post(client, project.researcher_token, request, "withdraw", reason="wrong file")
    assert response.json()["status"] == "withdrawn"
    response = post(client, project.researcher_token, request, "withdraw")
    assert response.status_code == 409


def test_reject_needs_a_comment_and_ends_the_request(client, project, checkers):
    request = submitted(client, project)
    assert post(client, checkers[0][1], request, "reject").status_code == 422
    response = post(client, checkers[0][1], request, "reject", comment="row-level data")
    assert response.json()["status"] == "rejected"
    assert vote(client, checkers[1][1], request, request["files"][0]).status_code == 409


def test_checkers_list_requests_awaiting_review(client, project, checkers):
    request = submitted(client, project)
    listed = client.get("/api/v1/egress/requests?limit=500", headers=auth(checkers[0][1]))
    assert request["id"] in {r["id"] for r in listed.json()["items"]}
    post(client, checkers[0][1], request, "reject", comment="no")
    listed = client.get("/api/v1/egress/requests?limit=500", headers=auth(checkers[0][1]))
    assert request["id"] not in {r["id"] for r in listed.json()["items"]}


def test_checkers_view_quarantined_content_audited(client, engine, project, checkers):
    request = submitted(client, project)
    file = request["files"][0]
    response = client.get(f"/api/v1/egress/requests/{request['id']}/files/{file['id']}/content",
                          headers=auth(checkers[0][1]))
    assert response.status_code == 200 and response.content == OK_CSV
    assert events(engine, "egress.file.view", file["id"])


def test_researchers_see_only_their_projects_requests(client, engine, project):
    from spe.domain.roles import Role
    from testsupport.factories import make_user

    request = submitted(client, project)
    _, outsider = make_user(engine, Role.researcher)
    response = client.get(f"/api/v1/egress/requests/{request['id']}", headers=auth(outsider))
    assert response.status_code == 404
