"""A suspended permit freezes the airlock; CSV downloads neutralise formula cells."""

from __future__ import annotations

import hashlib

from spe.domain.roles import Role
from tests.airlock.conftest import OK_CSV, auth, denied, read, submit, vote
from tests.airlock.test_release import released_request


def _permit(client, project, tokens, action: str) -> None:
    body = {"reason": f"{action} for the test"}
    response = client.post(f"/api/v1/permits/{project.permit_reference}/{action}", json=body,
                           headers=auth(tokens[Role.permit_manager]))
    assert response.status_code == 200, response.text


def test_a_suspended_permit_freezes_release_and_download(client, engine, project, checkers,
                                                         tokens):
    response = submit(client, project.id, project.researcher_token, [("counts.csv", OK_CSV)])
    request = response.json()
    _permit(client, project, tokens, "suspend")
    # votes are still recorded
    for _, token in checkers[:2]:
        assert vote(client, token, request, request["files"][0]).status_code == 201
    assert read(client, checkers[0][1], request["id"])["status"] == "approved"
    url = f"/api/v1/egress/requests/{request['id']}/release"
    response = client.post(url, headers=auth(checkers[0][1]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "egress.permit_inactive"
    assert "suspended" in response.json()["error"]["message"]
    assert denied(engine, "egress.request.release", "egress.permit_inactive")
    _permit(client, project, tokens, "resume")
    response = client.post(url, headers=auth(checkers[0][1]))
    assert response.status_code == 201, response.text
    release = response.json()
    file_url = f"/api/v1/egress/releases/{release['id']}/files/{request['files'][0]['id']}"
    assert client.get(file_url, headers=auth(project.researcher_token)).status_code == 200
    _permit(client, project, tokens, "revoke")  # an ended permit: downloads stop
    response = client.get(file_url, headers=auth(project.researcher_token))
    assert response.status_code == 409
    assert "revoked" in response.json()["error"]["message"]
    assert denied(engine, "egress.release.download", "egress.permit_inactive")


def test_csv_downloads_neutralise_formula_cells(client, project, checkers):
    data = b'region,count,note\nnorth,120,=HYPERLINK("http://x")\nsouth,85,-3\n'
    request, release = released_request(client, project, checkers, [("f.csv", data)])
    url = f"/api/v1/egress/releases/{release['id']}/files/{request['files'][0]['id']}"
    response = client.get(url, headers=auth(project.researcher_token))
    assert response.status_code == 200
    assert b"'=HYPERLINK" in response.content and b",-3" in response.content
    assert response.headers["x-formulas-neutralised"] == "1"
    assert response.headers["x-released-sha256"] == hashlib.sha256(data).hexdigest()
    assert response.headers["x-content-sha256"] == hashlib.sha256(response.content).hexdigest()
    raw = client.get(url + "?raw=true", headers=auth(project.researcher_token))
    assert raw.content == data
