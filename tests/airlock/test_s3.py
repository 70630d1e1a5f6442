"""The airlock on the real S3 server (Ceph RGW): quarantine, release and download."""

from __future__ import annotations

import pytest

from spe.storage.layout import quarantine_key, release_prefix
from tests.airlock.conftest import OK_CSV, auth, read, submit, vote
from testsupport.platform import swap


@pytest.fixture
def on_s3(client, s3_store):
    before = swap(client.app, object_store=s3_store)
    yield s3_store
    client.app.state.platform = before


@pytest.mark.slow
def test_submit_release_download_on_s3(client, project, checkers, on_s3):
    response = submit(client, project.id, project.researcher_token, [("counts.csv", OK_CSV)])
    assert response.status_code == 201, response.text
    request = response.json()
    file = request["files"][0]
    assert on_s3.get_bytes(quarantine_key(project.id, file["sha256"])) == OK_CSV
    for _, token in checkers[:2]:
        assert vote(client, token, read(client, token, request["id"]), file).status_code == 201
    release = client.post(f"/api/v1/egress/requests/{request['id']}/release",
                          headers=auth(checkers[0][1])).json()
    keys = {i.key for i in on_s3.list(release_prefix(project.id, release["id"]))}
    prefix = release_prefix(project.id, release["id"])
    assert {f"{prefix}manifest.json", f"{prefix}manifest.sig",
            f"{prefix}ro-crate-metadata.json", f"{prefix}files/{file['sha256']}"} == keys
    response = client.get(f"/api/v1/egress/releases/{release['id']}/files/{file['id']}",
                          headers=auth(project.researcher_token))
    assert response.status_code == 200 and response.content == OK_CSV
