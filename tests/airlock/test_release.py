"""The happy path end to end, releases, downloads and revocation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import acro
import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session

from egress.differencing import Ledger
from egress.release import PROFILE, verify_manifest
from spe.airlock.models import ReleaseLedger
from spe.crypto.signing import SignatureError
from spe.domain.roles import Role
from tests.airlock.conftest import (
    OK_CSV,
    auth,
    denied,
    events,
    file_named,
    read,
    submit,
    vote,
)
from testsupport.factories import make_user


@pytest.fixture(scope="module")
def acro_folder(tmp_path_factory) -> Path:
    """A real ACRO output folder: one crosstab, finalised as JSON."""
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], 400),
                       "region": rng.choice(["north", "south", "east"], 400)})
    session = acro.ACRO(suppress=False)
    session.crosstab(df.sex, df.region)
    out = tmp_path_factory.mktemp("acro") / "acro_out"
    session.finalise(str(out), "json")
    return out


def folder_files(folder: Path) -> list[tuple[str, bytes]]:
    return [(f"{folder.name}/{p.relative_to(folder).as_posix()}", p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()]


def released_request(client, project, checkers, files) -> tuple[dict, dict]:
    response = submit(client, project.id, project.researcher_token, files)
    assert response.status_code == 201, response.text
    request = response.json()
    for _, token in checkers[:2]:
        view = read(client, token, request["id"])
        for file in view["files"]:
            if file["can_vote"]:
                response = vote(client, token, view, file,
                                justification="ACRO's own summary; checked by hand")
                assert response.status_code == 201, response.text
    assert read(client, checkers[0][1], request["id"])["status"] == "approved"
    response = client.post(f"/api/v1/egress/requests/{request['id']}/release",
                           headers=auth(checkers[0][1]))
    assert response.status_code == 201, response.text
    return read(client, project.researcher_token, request["id"]), response.json()


def test_acro_folder_and_csv_released_signed_and_downloaded(client, engine, project, checkers,
                                                            acro_folder):
    files = [*folder_files(acro_folder), ("summary.csv", OK_CSV)]
    request, release = released_request(client, project, checkers, files)
    assert request["status"] == "released" and request["release_id"] == release["id"]

    checker_only = {f["name"] for f in request["files"] if f["checker_only"]}
    assert {"acro_out/results.json", "acro_out/session_summary.json",
            "acro_out/config.json"} <= checker_only
    assert any(n.startswith("acro_out/checksums/") for n in checker_only)
    acro_table = file_named(request, "acro_out/output_0_0.csv")
    assert acro_table["check"]["kind"] == "acro" and "acro" in acro_table["check"]

    manifest = release["manifest"]
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == {"acro_out/output_0_0.csv", "summary.csv"}
    assert manifest["permit"]["reference"] == project.permit_reference
    assert manifest["policy_pack"] == {"name": "snds", "version": "1.1.0"}
    assert all(len(f["votes"]) == 2 and f["check"]["outcome"] for f in listed.values())

    key = client.get("/api/v1/egress/release-key").json()
    assert key["key_id"] == release["signing_key_id"]
    verify_manifest(manifest, release["signature"], key["public_key_pem"])
    with pytest.raises(SignatureError):
        verify_manifest({**manifest, "title": "forged"}, release["signature"],
                        key["public_key_pem"])

    crate = release["crate"]
    root = next(e for e in crate["@graph"] if e["@id"] == "./")
    assert root["conformsTo"] == {"@id": PROFILE}
    parts = {p["@id"] for p in root["hasPart"]}
    assert parts == {"manifest.json", "outputs/acro_out/output_0_0.csv", "outputs/summary.csv"}

    submitted = dict(files)
    for name, entry in listed.items():
        file = file_named(request, name)
        response = client.get(f"/api/v1/egress/releases/{release['id']}/files/{file['id']}",
                              headers=auth(project.researcher_token))
        assert response.status_code == 200
        assert response.content == submitted[name]
        assert hashlib.sha256(response.content).hexdigest() == entry["sha256"]
        assert response.headers["x-content-sha256"] == entry["sha256"]
    assert len(events(engine, "egress.release.download", release["id"])) == 2

    sidecar = file_named(request, "acro_out/results.json")
    response = client.get(f"/api/v1/egress/releases/{release['id']}/files/{sidecar['id']}",
                          headers=auth(project.researcher_token))
    assert response.status_code == 404

    with Session(engine) as session:
        ledger = Ledger.from_json(session.get(ReleaseLedger, project.id).ledger)
    assert {t.name for t in ledger.tables} >= {"summary.csv"}


def test_downloads_stop_when_a_release_is_revoked(client, engine, project, checkers):
    request, release = released_request(client, project, checkers, [("counts.csv", OK_CSV)])
    url = f"/api/v1/egress/releases/{release['id']}/files/{request['files'][0]['id']}"
    assert client.get(url, headers=auth(project.researcher_token)).status_code == 200

    revoke = f"/api/v1/egress/releases/{release['id']}/revoke"
    response = client.post(revoke, headers=auth(checkers[2][1]), json={})
    assert response.status_code == 422
    response = client.post(revoke, headers=auth(checkers[2][1]),
                           json={"comment": "incident 42: a cell was mislabelled"})
    assert response.status_code == 200 and response.json()["revoked"]

    response = client.get(url, headers=auth(project.researcher_token))
    assert response.status_code == 410
    assert denied(engine, "egress.release.download", "egress.release_revoked")
    assert read(client, project.researcher_token, request["id"])["status"] == "revoked"
    with Session(engine) as session:  # it was seen: later requests are still audited against it
        ledger = Ledger.from_json(session.get(ReleaseLedger, project.id).ledger)
    assert "counts.csv" in {t.name for t in ledger.tables}


def test_only_the_requester_downloads_with_a_personal_token(client, engine, project, checkers):
    request, release = released_request(client, project, checkers, [("counts.csv", OK_CSV)])
    url = f"/api/v1/egress/releases/{release['id']}/files/{request['files'][0]['id']}"
    assert client.get(url, headers=auth(project.colleague_token)).status_code == 403
    assert denied(engine, "egress.release.download", "egress.not_requester")

    hub = _hub_token(engine, project.id)
    scoped = client.post(f"/api/v1/projects/{project.id}/workspace-token", headers=auth(hub),
                         json={"user": project.researcher}).json()["token"]
    response = client.get(url, headers=auth(scoped))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.forbidden"


def test_nothing_downloads_before_release(client, engine, project, checkers):
    response = submit(client, project.id, project.researcher_token, [("counts.csv", OK_CSV)])
    request = response.json()
    for _, token in checkers[:2]:
        vote(client, token, request, request["files"][0])
    assert read(client, project.researcher_token, request["id"])["release_id"] is None
    response = client.get(f"/api/v1/egress/releases/{request['id']}/files/"
                          f"{request['files'][0]['id']}", headers=auth(project.researcher_token))
    assert response.status_code == 404
    assert denied(engine, "egress.release.download", "egress.release_not_found")


def test_tampered_quarantine_is_never_served(client, engine, project, checkers, store):
    from spe.storage.layout import quarantine_key

    response = submit(client, project.id, project.researcher_token,
                      [("tampered.csv", OK_CSV + b"west,12\n")])
    file = response.json()["files"][0]
    store.put_bytes(quarantine_key(project.id, file["sha256"]), b"region,count\nall,1\n")
    url = f"/api/v1/egress/requests/{response.json()['id']}/files/{file['id']}/content"
    response = client.get(url, headers=auth(checkers[0][1]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "egress.integrity"


def _hub_token(engine, project_id: str) -> str:
    from datetime import timedelta

    from spe.audit import Actor
    from spe.auth.tokens import issue_token
    from spe.db import session_scope

    with session_scope(engine) as session:
        _, secret = issue_token(session, ttl=timedelta(hours=1), actor=Actor.system("tests"),
                                component="hub", project_id=project_id)
    return secret


def test_workspace_tokens_act_on_their_own_project_only(client, engine, project, tokens):
    hub = _hub_token(engine, project.id)
    response = client.post(f"/api/v1/projects/{project.id}/workspace-token",
                           headers=auth(hub), json={"user": project.researcher})
    assert response.status_code == 201
    scoped = response.json()
    assert scoped["project_id"] == project.id
    response = submit(client, project.id, scoped["token"], [("counts.csv", OK_CSV)])
    assert response.status_code == 201
    assert response.json()["requester"] == project.researcher

    other = client.post("/api/v1/permits", headers=auth(tokens[Role.permit_manager]),
                        json=_permit_for(engine, project.researcher)).json()["project_id"]
    response = submit(client, other, scoped["token"], [("counts.csv", OK_CSV)])
    assert response.status_code == 403
    assert denied(engine, "egress.request.submit", "egress.wrong_project")

    response = client.post(f"/api/v1/projects/{other}/workspace-token", headers=auth(hub),
                           json={"user": project.researcher})
    assert response.status_code == 403
    outsider, _ = make_user(engine, Role.researcher)
    response = client.post(f"/api/v1/projects/{project.id}/workspace-token",
                           headers=auth(hub), json={"user": outsider})
    assert response.status_code == 403
    assert denied(engine, "egress.workspace_token.create", "egress.not_permitted")


def _permit_for(engine, subject: str) -> dict:
    from testsupport.factories import make_dataset, permit_body

    return permit_body(make_dataset(engine), [subject])
