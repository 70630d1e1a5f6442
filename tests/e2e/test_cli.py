"""`spe project …` through a live API, and `spe workspace render` from the database."""

from __future__ import annotations

import pytest
import yaml
from sqlmodel import Session
from typer.testing import CliRunner

from spe.cli.main import app
from spe.dataplane import ProjectDataPlane
from spe.demo import load_demo
from spe.domain.permits import Permit
from spe.domain.projects import Project
from tests.fixtures.embedded import embedded
from testsupport.live_server import serving

runner = CliRunner()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The demo in a fresh embedded data directory, its extract prepared, the API live."""
    from spe.web import create_app

    with embedded(tmp_path_factory.mktemp("spe")) as (engine, settings):
        plane = ProjectDataPlane(engine, settings)
        demo = load_demo(engine, plane.store)
        with Session(engine) as s:
            project = s.get(Project, demo.project_id)
            plane.prepare(project, s.get(Permit, project.permit_id))
        with serving(create_app(settings, engine)) as url:
            yield url, demo


def spe(url: str, token: str, *args: str):
    return runner.invoke(app, list(args), env={"SPE_URL": url, "SPE_TOKEN": token})


ENCRYPTING = {"SPE_KUBERNETES_STORAGE_CLASS": "rbd-encrypted",
              "SPE_KUBERNETES_SHARED_STORAGE_CLASS": "cephfs-encrypted",
              "SPE_KUBERNETES_ENCRYPTED_STORAGE_CLASSES": '["rbd-encrypted", "cephfs-encrypted"]'}


def test_render_prints_the_kubernetes_objects_without_secrets(platform, monkeypatch):
    from spe.settings import get_settings

    _, demo = platform
    args = ["workspace", "render", demo.project_id, "--runtime", "kubernetes",
            "--ingress-domain", "ws.example.org", "--api-server-cidr", "10.0.0.1/32"]
    refused = runner.invoke(app, args)  # no storage class declared encrypting
    assert refused.exit_code == 1 and "not declared encrypted" in refused.output
    for name, value in ENCRYPTING.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, args)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    objects = list(yaml.safe_load_all(result.stdout))
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "NetworkPolicy", "ResourceQuota", "Deployment", "Secret"} <= kinds
    [grant] = [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] ==
               "extract-grant"]
    assert grant["stringData"]["token"] == "REDACTED"
    assert grant["stringData"]["url"].endswith(f"/api/v1/projects/{demo.project_id}/extract")
    [key] = [o for o in objects if o["metadata"]["name"] == "work-area-key"]
    assert key["stringData"]["encryptionPassphrase"] == "REDACTED"
    assert "spe_" not in result.stdout  # no personal or service token leaks

    missing = runner.invoke(app, ["workspace", "render", demo.project_id])
    assert missing.exit_code == 2
    unknown = runner.invoke(app, ["workspace", "render", "p-none", "--ingress-domain", "x.org",
                                  "--api-server-cidr", "10.0.0.1/32"])
    assert unknown.exit_code == 1 and "project.not_found" in unknown.output


def test_project_commands_and_the_kill_switch(platform):
    url, demo = platform
    alice, pm = demo.tokens["alice"][1], demo.tokens["pm"][1]
    listed = spe(url, alice, "project", "list", "--json")
    assert listed.exit_code == 0 and demo.project_id in listed.stdout
    shown = spe(url, alice, "project", "show", demo.project_id, "--json")
    assert shown.exit_code == 0 and '"percent": 100' in shown.stdout
    human = spe(url, alice, "project", "show", demo.project_id)
    assert f"project {demo.project_id}" in human.stdout and "ready" in human.stdout

    refused = spe(url, alice, "project", "halt", demo.project_id, "--reason", "no")
    assert refused.exit_code == 1 and "auth.forbidden" in refused.output
    halted = spe(url, pm, "project", "halt", demo.project_id, "--reason", "incident 42")
    assert halted.exit_code == 0, halted.output
    assert "suspended" in halted.stdout
