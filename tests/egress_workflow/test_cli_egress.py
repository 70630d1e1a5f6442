"""``spe egress submit`` and ``download`` against a real API server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spe.api.app import create_app
from spe.cli.egress import app
from spe.crypto.signing import SigningKey, public_key_pem
from tests.egress_workflow.conftest import OK_CSV, auth, read, vote
from tests.fixtures.live_server import serving

runner = CliRunner()


@pytest.fixture(scope="module")
def server_url(engine, settings, store):
    api = create_app(settings, engine)
    api.state.object_store = store
    with serving(api) as url:
        yield url


def test_submit_a_folder_and_a_file_then_download_the_release(server_url, client, project,
                                                              checkers, tmp_path: Path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "by_region.csv").write_bytes(OK_CSV)
    (folder / "notes.md").write_bytes(b"# How these were made\n")
    single = tmp_path / "total.csv"
    single.write_bytes(b"group,count\nall,205\n")
    env = {"SPE_URL": server_url, "SPE_TOKEN": project.researcher_token,
           "SPE_PROJECT": project.id}
    result = runner.invoke(app, ["submit", str(folder), str(single), "--title", "Tables",
                                 "--description", "tables of counts, threshold 11",
                                 "--description", "the total"], env=env)
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout[result.stdout.index("{"):])
    assert sorted(f["name"] for f in request["files"]) == [
        "tables/by_region.csv", "tables/notes.md", "total.csv"]
    assert {f["description"] for f in request["files"]} == {"tables of counts, threshold 11",
                                                            "the total"}

    for _, token in checkers[:2]:
        view = read(client, token, request["id"])
        for file in view["files"]:
            assert vote(client, token, view, file).status_code == 201
    release = client.post(f"/api/v1/egress/requests/{request['id']}/release",
                          headers=auth(checkers[0][1])).json()

    target = tmp_path / "downloaded"
    unpinned = runner.invoke(app, ["download", release["id"], "--to", str(target)], env=env)
    assert unpinned.exit_code == 2 and "--public-key" in unpinned.output
    assert not target.exists()
    impostor = tmp_path / "impostor.pem"  # what a server serving its own key would give
    impostor.write_text(public_key_pem(SigningKey.load_or_create(tmp_path / "x.pem").public_key))
    refused = runner.invoke(app, ["download", release["id"], "--to", str(target),
                                  "--public-key", str(impostor)], env=env)
    assert refused.exit_code == 4 and "does not verify with the pinned key" in refused.output
    assert not target.exists()
    pinned = tmp_path / "release-key.pem"  # as published by the operator
    pinned.write_text(client.get("/api/v1/egress/release-key").json()["public_key_pem"])
    result = runner.invoke(app, ["download", release["id"], "--to", str(target)],
                           env={**env, "SPE_RELEASE_PUBLIC_KEY": str(pinned)})
    assert result.exit_code == 0, result.output
    assert (target / "tables/by_region.csv").read_bytes() == OK_CSV
    assert (target / "total.csv").read_bytes() == single.read_bytes()


def test_refusals_are_reported_with_their_code(server_url, project, tmp_path: Path):
    bad = tmp_path / "program.exe"
    bad.write_bytes(b"MZ")
    env = {"SPE_URL": server_url, "SPE_TOKEN": project.researcher_token,
           "SPE_PROJECT": project.id}
    result = runner.invoke(app, ["submit", str(bad), "--title", "x", "--description", "x"],
                           env=env)
    assert result.exit_code == 1
    assert "egress.extension_not_allowed" in result.output
