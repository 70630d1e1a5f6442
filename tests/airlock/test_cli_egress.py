"""``spe egress submit`` and ``download`` against a real API server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spe.cli.egress import app
from spe.crypto.signing import SigningKey, public_key_pem
from spe.web import create_app
from tests.airlock.conftest import OK_CSV, auth, read, vote
from testsupport.live_server import serving
from testsupport.platform import swap

runner = CliRunner()


@pytest.fixture(scope="module")
def server_url(engine, settings, store):
    api = create_app(settings, engine)
    swap(api, object_store=store)
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
                                 "--description", "the total", "--json"], env=env)
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)
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


def test_every_role_through_the_cli(server_url, project, checkers, tmp_path: Path):
    """The researcher submits, follows and downloads; checkers queue, fetch, vote, return,
    release and revoke: every step a command, human output by default, --json on demand."""
    researcher = {"SPE_URL": server_url, "SPE_TOKEN": project.researcher_token,
                  "SPE_PROJECT": project.id}
    (tmp_path / "counts.csv").write_bytes(OK_CSV)
    submitted = runner.invoke(app, ["submit", str(tmp_path / "counts.csv"), "--title",
                                    "Counts", "--description", "counts, threshold 11"],
                              env=researcher)
    assert submitted.exit_code == 0, submitted.output
    assert submitted.stdout.startswith("request ") and "submitted" not in submitted.stderr
    request_id = submitted.stdout.split()[1]

    listed = runner.invoke(app, ["list", "--json"], env=researcher)
    assert request_id in [r["id"] for r in json.loads(listed.stdout)]

    first = {"SPE_URL": server_url, "SPE_TOKEN": checkers[0][1]}
    queue = runner.invoke(app, ["queue", "--json"], env=first)
    assert queue.exit_code == 0 and request_id in [r["id"] for r in json.loads(queue.stdout)]
    assert request_id in runner.invoke(app, ["queue"], env=first).stdout  # a table

    fetched = runner.invoke(app, ["file", request_id, "counts.csv", "--to",
                                  str(tmp_path / "review")], env=first)
    assert fetched.exit_code == 0, fetched.output
    assert (tmp_path / "review" / "counts.csv").read_bytes() == OK_CSV

    wrong = runner.invoke(app, ["vote", request_id, "counts.csv", "approve", "--sha256",
                                "0" * 64], env=first)
    assert wrong.exit_code == 1 and "sha256" in wrong.stderr.lower()
    voted = runner.invoke(app, ["vote", request_id, "counts.csv", "request_changes",
                                "-c", "round to 10"], env=first)
    assert voted.exit_code == 0, voted.output
    returned = runner.invoke(app, ["return", request_id, "-c", "please round to 10"],
                             env=first)
    assert returned.exit_code == 0, returned.output
    status = runner.invoke(app, ["status", request_id, "--json"], env=researcher)
    view = json.loads(status.stdout)
    assert view["status"] == "changes_requested"
    assert view["status_comment"] == "please round to 10"
    assert "please round to 10" in runner.invoke(app, ["status", request_id],
                                                 env=researcher).stdout


def test_vote_release_download_and_revoke(server_url, client, project, checkers,
                                          tmp_path: Path):
    researcher = {"SPE_URL": server_url, "SPE_TOKEN": project.researcher_token,
                  "SPE_PROJECT": project.id}
    (tmp_path / "counts.csv").write_bytes(OK_CSV)
    submitted = runner.invoke(app, ["submit", str(tmp_path / "counts.csv"), "--title",
                                    "Counts", "--description", "counts", "--json"],
                              env=researcher)
    request_id = json.loads(submitted.stdout)["id"]
    envs = [{"SPE_URL": server_url, "SPE_TOKEN": token} for _, token in checkers[:2]]
    unseen = runner.invoke(app, ["vote", request_id, "counts.csv", "approve"], env=envs[0])
    assert unseen.exit_code == 2 and "--reviewed" in unseen.output
    for number, env in enumerate(envs):
        copy = tmp_path / f"review{number}"
        assert runner.invoke(app, ["file", request_id, "counts.csv", "--to", str(copy)],
                             env=env).exit_code == 0
        voted = runner.invoke(app, ["vote", request_id, "counts.csv", "approve",
                                    "--reviewed", str(copy / "counts.csv")], env=env)
        assert voted.exit_code == 0, voted.output
    shown = json.loads(runner.invoke(app, ["show", request_id, "--json"], env=envs[0]).stdout)
    assert [v["decision"] for v in shown["files"][0]["votes"]] == ["approve", "approve"]

    released = runner.invoke(app, ["release", request_id, "--json"], env=envs[0])
    assert released.exit_code == 0, released.output
    release = json.loads(released.stdout)
    assert [f["id"] for f in release["manifest"]["files"]] == [shown["files"][0]["id"]]

    pinned = tmp_path / "release-key.pem"  # as the operator publishes it
    pinned.write_text(client.get("/api/v1/egress/release-key").json()["public_key_pem"])
    researcher["SPE_RELEASE_PUBLIC_KEY"] = str(pinned)
    downloaded = runner.invoke(app, ["download", release["id"], "--to",
                                     str(tmp_path / "out")], env=researcher)
    assert downloaded.exit_code == 0, downloaded.output
    assert (tmp_path / "out" / "counts.csv").read_bytes() == OK_CSV
    assert "1 file(s) verified" in downloaded.stdout

    revoked = runner.invoke(app, ["revoke", release["id"], "-c", "incident"], env=envs[0])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(app, ["download", release["id"], "--to", str(tmp_path / "again")],
                          env=researcher)
    assert again.exit_code == 1 and "410" in again.stderr


def test_errors_say_what_to_do_next(server_url, project, tmp_path: Path):
    no_token = runner.invoke(app, ["status", "x"], env={"SPE_URL": server_url,
                                                         "SPE_TOKEN": ""})
    assert no_token.exit_code == 2 and "SPE_TOKEN" in no_token.stderr
    unknown = runner.invoke(app, ["status", "nope"], env={
        "SPE_URL": server_url, "SPE_TOKEN": project.researcher_token})
    assert unknown.exit_code == 1 and "404" in unknown.stderr and "check the id" in \
        unknown.stderr
    unreachable = runner.invoke(app, ["status", "x"], env={
        "SPE_URL": "http://127.0.0.1:9", "SPE_TOKEN": project.researcher_token})
    assert unreachable.exit_code == 3 and "SPE_URL" in unreachable.stderr
    assert unreachable.stdout == ""
