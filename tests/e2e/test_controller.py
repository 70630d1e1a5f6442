"""The controller: wiring from settings, and only the lease holder reconciles."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client as k8s
from sqlmodel import Session

from controllers.controller import Controller, build, run_as_leader
from controllers.reconciler import Reconciler
from controllers.runtimes.kubernetes import KubeClient, LeaseLock, SettingsError
from controllers.runtimes.registry import make_runtime
from spe import migrations
from spe.crypto.secretbox import SecretBox
from spe.dataplane import ProjectDataPlane
from spe.db import make_engine
from spe.demo import load_demo
from spe.domain.projects import Project
from spe.settings import Settings
from tests.controllers.conftest import MemoryRuntime
from testsupport.kubeapi import FakeApiServer, serve


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


def test_build_wires_the_local_runtime_and_its_extract_directory(engine, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    reconciler = build(settings, engine).reconciler
    assert reconciler.runtime.name == "local"
    assert reconciler.runtime.root == (tmp_path / "data" / "workspaces").resolve()
    plane = reconciler.data_plane
    assert isinstance(plane, ProjectDataPlane)
    assert plane.extract_dir("p-1") == reconciler.runtime.layout("p-1").extract
    with pytest.raises(SettingsError, match="INGRESS_DOMAIN"):
        make_runtime(Settings(data_dir=tmp_path, runtime="kubernetes"))


@pytest.fixture
def kube():
    api = FakeApiServer()
    server = serve(api)
    api.put_object("/api/v1/namespaces/spe", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "spe"}})
    client = k8s.ApiClient(k8s.Configuration(host=api.url))
    try:
        yield KubeClient(client, timeout=5)
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_only_the_lease_holder_reconciles_and_a_successor_takes_over(engine, tmp_path, kube):
    settings = Settings(data_dir=tmp_path / "data", reconcile_interval_seconds=0.05)
    box = SecretBox.load_or_create(settings.keys_dir / "secrets.key")
    demo = load_demo(engine, ProjectDataPlane(engine, settings).store)
    replicas = []
    for name in ("a", "b"):
        runtime, stop = MemoryRuntime(), threading.Event()
        lease = LeaseLock(kube, "spe", "spe-controller", name, duration_seconds=2)
        thread = threading.Thread(target=run_as_leader, daemon=True, args=(
            Controller(Reconciler(engine, runtime, settings, box), poll_seconds=0.05), stop,
            lease))
        thread.start()
        replicas.append((runtime, stop, thread))
        if name == "a":  # a leads first
            wait_until(lambda runtime=runtime: demo.project_id in runtime.hubs)
    (first, stop_first, thread_first), (second, stop_second, thread_second) = replicas
    time.sleep(1.0)
    assert second.hubs == {}, "the replica without the lease acted"

    stop_first.set()
    thread_first.join(timeout=10)
    first.hubs.clear()
    wait_until(lambda: demo.project_id in second.hubs)  # released: b takes over
    assert first.hubs == {}
    stop_second.set()
    thread_second.join(timeout=10)
    with Session(engine) as s:
        assert s.get(Project, demo.project_id).observed_state == "ready"
