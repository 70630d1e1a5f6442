"""The work area after the permit ends, on the local runtime, by behaviour: the reconciler
(with a real hub) tears the workspace down, and nothing of alice's saved work is left to
read: not the file, not a process that could hold it open, not the hub that served it."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from controllers.reconciler import Reconciler
from controllers.runtimes.local import LocalRuntime, processes
from spe import migrations
from spe.crypto.secretbox import SecretBox
from spe.db import make_engine, session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.settings import Settings
from tests.controllers.runtimes.local.test_runtime import NOTEBOOK, spawn
from testsupport.factories import make_dataset, permit_body

pytestmark = pytest.mark.timeout(180)
MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")


def open_under(root: Path) -> list[str]:
    """Files under ``root`` that a live process holds open (readable through /proc)."""
    held = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            targets = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:
            continue
        held += [t for t in targets if t.startswith(f"{root}/")]
    return held


def test_the_work_area_is_gone_when_the_permit_is_revoked(tmp_path, runtime_root):
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data")
    runtime = LocalRuntime(runtime_root)
    reconciler = Reconciler(engine, runtime, settings,
                            SecretBox.load_or_create(settings.keys_dir / "secrets.key"))
    body = permit_body(make_dataset(engine), ["alice"])
    with session_scope(engine) as s:
        permit = lifecycle.create_permit(s, PermitCreate(**body), MANAGER)
        project = s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()
    layout = runtime.layout(project)
    try:
        [ready] = reconciler.run_once()
        assert ready.observed == "ready", ready
        url = runtime.observe(project).url
        server = spawn(runtime, project, "alice")
        with server.client() as http:
            assert http.put("api/contents/analysis.ipynb", json=NOTEBOOK).status_code == 201
        saved = layout.users / "alice" / "analysis.ipynb"
        assert "x = 1" in saved.read_text()

        with session_scope(engine) as s:
            lifecycle.revoke_permit(s, permit.id, "study ended", MANAGER)
        [ended] = reconciler.run_once()

        assert ended.observed == "deleted"
        assert not saved.exists() and not layout.root.exists()
        assert not processes.alive(server.pid)
        assert processes.workspace_pids(layout.root) == set()
        assert open_under(layout.root) == []  # no deleted file still readable via /proc
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}user/alice/api/contents/analysis.ipynb")
    finally:
        runtime.delete(project)
        engine.dispose()
