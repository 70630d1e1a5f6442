"""A database with migrations for the reconciler tests, and a runtime double.

``MemoryRuntime`` implements the runtime interface in memory, counting what it starts, so
the reconciler's logic (idempotence, crash recovery, orphans) is tested fast; the local
runtime's own tests and the end-to-end test use real JupyterHub processes.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from controllers.runtimes.base import ObservedWorkspace, Runtime, WorkspacePhase
from spe.crypto.secretbox import SecretBox
from spe.settings import Settings
from workspaces.spec import WorkspaceSpec


class MemoryRuntime(Runtime):
    name = "memory"

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryRuntime:
        return cls()

    def __init__(self) -> None:
        self.hubs: dict[str, dict] = {}  # project → {"spec", "running", "starts"}
        self.starts = 0

    def ensure(self, spec: WorkspaceSpec) -> ObservedWorkspace:
        hub = self.hubs.get(spec.project_id)
        if hub is None or hub["spec"] != spec or not hub["running"]:
            self.starts += 1
            self.hubs[spec.project_id] = {"spec": spec, "running": True}
        return self.observe(spec.project_id)

    def suspend(self, project_id: str) -> ObservedWorkspace:
        if project_id in self.hubs:
            self.hubs[project_id]["running"] = False
        return self.observe(project_id)

    def delete(self, project_id: str) -> None:
        self.hubs.pop(project_id, None)

    def observe(self, project_id: str) -> ObservedWorkspace:
        hub = self.hubs.get(project_id)
        if hub is None:
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT)
        if not hub["running"]:
            return ObservedWorkspace(project_id, WorkspacePhase.SUSPENDED)
        return ObservedWorkspace(project_id, WorkspacePhase.READY,
                                 url=f"http://127.0.0.1:9/{project_id}")

    def projects(self) -> set[str]:
        return set(self.hubs)


@pytest.fixture
def engine(fresh_engine) -> Engine:
    """A fresh database per test (:func:`tests.fixtures.database.fresh_engine`)."""
    return fresh_engine


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def box(settings) -> SecretBox:
    return SecretBox.load_or_create(settings.keys_dir / "secrets.key")
