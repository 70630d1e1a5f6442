"""`spe project extract`: the extract's progress through a live API, while the data plane
prepares it (or fails to)."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from spe.cli.main import app
from spe.dataplane import ProjectDataPlane
from spe.db import session_scope
from spe.demo import load_demo
from spe.domain import permit_lifecycle
from spe.domain.datasets import Dataset
from spe.domain.permits import Permit, PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.errors import TerminalError
from tests.fixtures.embedded import embedded
from testsupport.factories import make_dataset, permit_body
from testsupport.live_server import serving

runner = CliRunner()
MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The demo loaded (its extract not prepared yet) and the API live."""
    from spe.web import create_app

    with embedded(tmp_path_factory.mktemp("spe")) as (engine, settings):
        plane = ProjectDataPlane(engine, settings)
        demo = load_demo(engine, plane.store)
        with serving(create_app(settings, engine)) as url:
            yield url, demo, plane


def spe(url: str, token: str, *args: str):
    return runner.invoke(app, list(args), env={"SPE_URL": url, "SPE_TOKEN": token,
                                              "COLUMNS": "120"})


def prepare(plane: ProjectDataPlane, project_id: str) -> None:
    with Session(plane.engine) as s:
        project = s.get(Project, project_id)
        plane.prepare(project, s.get(Permit, project.permit_id))


def test_follows_the_preparation_to_ready(platform):
    url, demo, plane = platform
    alice = demo.tokens["alice"][1]
    before = spe(url, alice, "project", "extract", demo.project_id, "--once")
    assert before.exit_code == 4, before.output
    assert f"extract of {demo.project_id}: absent" in before.stdout

    preparing = threading.Thread(target=prepare, args=(plane, demo.project_id))
    preparing.start()
    try:
        followed = spe(url, alice, "project", "extract", demo.project_id,
                       "--interval", "0.2")
    finally:
        preparing.join(120)
    assert followed.exit_code == 0, followed.output
    assert "100%" in followed.stdout and "42,000/42,000 rows" in followed.stdout
    assert f"extract of {demo.project_id}: ready, 100%" in followed.stdout

    once = spe(url, alice, "project", "extract", demo.project_id, "--once")
    assert once.exit_code == 0 and ": ready, 100%, 42,000/42,000 rows, x-" in once.stdout


def test_a_failed_extract_exits_1_with_its_reason(platform):
    url, demo, plane = platform
    dataset = make_dataset(plane.engine)
    with session_scope(plane.engine) as s:
        s.get(Dataset, dataset).source_uri = f"sources/{dataset}/gone.parquet"
        permit = permit_lifecycle.create_permit(
            s, PermitCreate(**permit_body(dataset, ["alice"])), MANAGER)
        project_id = s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()
    with pytest.raises(TerminalError, match="a source is missing"):
        prepare(plane, project_id)

    for args in ([], ["--once"]):
        result = spe(url, demo.tokens["alice"][1], "project", "extract", project_id, *args)
        assert result.exit_code == 1, result.output
        assert "failed" in result.output and "gone.parquet" in result.output


def test_usage_and_visibility(platform):
    url, demo, _ = platform
    assert spe(url, demo.tokens["alice"][1], "project", "extract").exit_code == 2
    refused = spe(url, demo.tokens["bob"][1], "project", "extract", demo.project_id, "--once")
    assert refused.exit_code == 1 and "404" in refused.output
