"""The local runtime against real processes: JupyterHub, configurable-http-proxy, JupyterLab
servers and IPython kernels, driven through their REST and websocket APIs.

Servers are spawned through the hub REST API with the runtime's own service token (the OAuth
login end to end needs the control plane's provider). To talk to a user's server the tests use
that server's own hub token, read from its process environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from controllers.runtimes.base import ObservedWorkspace, WorkspacePhase
from controllers.runtimes.local import LocalRuntime, processes
from controllers.runtimes.local.layout import seal_read_only
from controllers.runtimes.local.state import load as load_state
from spe.errors import RetryableError, TerminalError
from tests.fixtures.workspaces import make_spec
from testsupport import kernels
from workspaces.spec import WorkspaceSpec

pytestmark = pytest.mark.timeout(180)


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@dataclass
class UserServer:
    """A running user server reached through the workspace's public proxy URL."""

    base: str  # http://127.0.0.1:<port>/user/<name>/
    token: str
    pid: int

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30,
                            headers={"Authorization": f"token {self.token}"})

    def execute(self, code: str) -> str:
        """Run ``code`` in a new kernel over the websocket API; return its stdout."""
        with self.client() as http:
            kernel = http.post("api/kernels", json={"name": "python3"}).json()["id"]
            try:
                ws_url = self.base.replace("http://", "ws://") + f"api/kernels/{kernel}/channels"
                return kernels.execute(ws_url, {"Authorization": f"token {self.token}"}, code)
            finally:
                http.delete(f"api/kernels/{kernel}")


def spawn(runtime: LocalRuntime, project_id: str, user: str) -> UserServer:
    with runtime.hub_api(project_id) as api:
        api.start_server(user)
        info = api.wait_ready(user)
    assert info.pid is not None
    url = runtime.observe(project_id).url
    return UserServer(f"{url}user/{user}/", _environ(info.pid)["JUPYTERHUB_API_TOKEN"], info.pid)


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def runtime(runtime_root: Path) -> LocalRuntime:
    return LocalRuntime(runtime_root)


@dataclass
class Workspace:
    spec: WorkspaceSpec
    observed: ObservedWorkspace
    ensure_seconds: float
    server: UserServer
    spawn_seconds: float


@pytest.fixture(scope="module")
def workspace(runtime: LocalRuntime, audit_recorder) -> Iterator[Workspace]:
    """One ready project hub with alice's server running and a file in the extract."""
    spec = make_spec("p-main", control_plane_url=audit_recorder.url)
    start = time.monotonic()
    observed = runtime.ensure(spec)
    ensured = time.monotonic() - start
    layout = runtime.layout(spec.project_id)
    extract = layout.extract
    extract.chmod(0o755)
    (extract / "cohort.csv").write_text("id,age\n1,54\n2,61\n")
    seal_read_only(extract)
    start = time.monotonic()
    server = spawn(runtime, spec.project_id, "alice")
    spawned = time.monotonic() - start
    yield Workspace(spec, observed, ensured, server, spawned)
    runtime.delete(spec.project_id)


def test_ensure_starts_a_hub_that_answers_health(workspace: Workspace):
    assert workspace.observed.phase is WorkspacePhase.READY
    assert httpx.get(workspace.observed.url + "hub/health").status_code == 200
    print(f"ensure {workspace.ensure_seconds:.1f} s, first spawn {workspace.spawn_seconds:.1f} s")


def test_spawned_server_is_jupyterlab_listed_by_observe(runtime, workspace: Workspace):
    with workspace.server.client() as http:
        assert "jupyterlab" in http.get("lab").text.lower()
        assert http.get("api/status").status_code == 200
    assert runtime.observe(workspace.spec.project_id).servers == ("alice",)


def test_the_lab_loads_spe_extension_instead_of_the_hubs_restart_dialog(workspace: Workspace):
    """A lab whose server goes reloads (spe's page then says why): the extension is served and
    JupyterHub's "Server unavailable... restart it?" plugin is disabled
    (tests/e2e/test_refusals_e2e.py watches it happen in Chromium)."""
    with workspace.server.client() as http:
        page = http.get("lab").text
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page,
                                      re.DOTALL)[1])
        assert {"name": "spe-workspace", "load": "static/remoteEntry.js",
                "extension": "./extension"}.items() <= next(
            e for e in config["federated_extensions"] if e["name"] == "spe-workspace").items()
        assert "@jupyterlab/hub-extension:connectionlost" in config["disabledExtensions"]
        script = http.get("lab/extensions/spe-workspace/static/remoteEntry.js")
        assert script.status_code == 200 and "connectionFailure" in script.text


def test_kernel_reads_data_and_writes_outputs(runtime, workspace: Workspace):
    out = workspace.server.execute(
        "import pandas as pd\n"
        "df = pd.read_csv('data/cohort.csv')\n"
        "df.describe().to_csv('outputs/summary.csv')\n"
        "print(int(df.age.sum()))\n"
    )
    assert out.strip() == "115"
    home = runtime.layout(workspace.spec.project_id).users / "alice"
    assert (home / "outputs" / "summary.csv").read_text().startswith(",id,age")


def test_a_kernels_cpu_time_is_accounted_to_its_user_within_ten_percent(runtime,
                                                                        workspace: Workspace):
    """The kernel exits between two samples: its time reaches the meter through its
    server's accounting of reaped children (docs/usage.md)."""
    from controllers.usage.local import TICKS, LocalUsageMeter, read_stat

    meter = LocalUsageMeter(runtime.root / "projects", storage=False)
    meter.sample()  # the hub and alice's server are counted from this first look
    server_before = read_stat(workspace.server.pid).own
    out = workspace.server.execute(
        "import resource, time\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 2.0: pass\n"
        "own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, "
        "resource.RUSAGE_CHILDREN))\n"
        "print(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime)\n")
    kernel_cpu = float(out)  # its start-up included; the kernel is shut down after this
    server_own = (read_stat(workspace.server.pid).own - server_before) / TICKS
    samples = meter.sample()
    alice = sum(s.cpu_seconds for s in samples
                if (s.project_id, s.member) == (workspace.spec.project_id, "alice"))
    assert alice - server_own == pytest.approx(kernel_cpu, rel=0.10), (alice, server_own,
                                                                      kernel_cpu)


def test_contents_api_refuses_writes_to_data_but_allows_outputs(runtime, workspace: Workspace):
    note = {"type": "file", "format": "text", "content": "x"}
    with workspace.server.client() as http:
        assert http.get("api/contents/data/cohort.csv").status_code == 200
        assert http.put("api/contents/data/new.txt", json=note).status_code == 403
        assert http.put("api/contents/data/cohort.csv", json=note).status_code == 403
        assert http.delete("api/contents/data/cohort.csv").status_code == 403
        assert http.delete("api/contents/data").status_code == 403
        assert http.put("api/contents/outputs/x.txt", json=note).status_code == 201
        moved = http.patch("api/contents/outputs/x.txt", json={"path": "data/x.txt"})
        assert moved.status_code == 403
    extract = runtime.layout(workspace.spec.project_id).extract
    assert sorted(p.name for p in extract.iterdir()) == ["cohort.csv"]


def test_server_environment_is_minimal(runtime, workspace: Workspace):
    env = _environ(workspace.server.pid)
    layout = runtime.layout(workspace.spec.project_id)
    assert env["SPE_WORKSPACE"] == str(layout.root)
    assert env["HOME"] == str(layout.users / "alice")
    leaked = [k for k, v in env.items()
              if "hub-service-token" in v or "client-secret" in v
              or k in {"SPE_HUB_CONFIG", "CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_CRYPT_KEY"}]
    assert leaked == []


def test_audit_events_reach_the_control_plane(workspace: Workspace, audit_recorder):
    project = workspace.spec.project_id

    def started():
        return [(t, e) for t, e in audit_recorder.events(project)
                if e["action"] == "workspace.server.start"]

    wait_for(started, what="server start audit event")
    token, event = started()[0]
    assert token == "Bearer hub-service-token"
    assert event["outcome"] == "success" and event["user"] == "alice"


def test_new_runtime_object_adopts_the_running_hub(runtime_root, workspace: Workspace):
    restarted = LocalRuntime(runtime_root)  # the control plane restarted
    layout = restarted.layout(workspace.spec.project_id)
    before = load_state(layout.state)
    pids_before = processes.workspace_pids(layout.root)
    observed = restarted.ensure(workspace.spec)
    assert observed.phase is WorkspacePhase.READY and observed.servers == ("alice",)
    assert load_state(layout.state) == before
    assert processes.workspace_pids(layout.root) == pids_before


def test_the_local_runtime_has_no_gpus(runtime):
    spec = make_spec("p-gpu")
    spec = dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, gpus=1,
                                                                 quota_gpus=1))
    with pytest.raises(TerminalError, match="has none"):
        runtime.ensure(spec)
    assert not runtime.layout("p-gpu").root.exists()


def test_suspend_refuses_logins_until_ensure_and_delete_leaves_nothing(runtime):
    spec = make_spec("p-suspend")
    runtime.ensure(spec)
    server = spawn(runtime, spec.project_id, "bob")
    layout = runtime.layout(spec.project_id)
    url = runtime.observe(spec.project_id).url
    assert spec.project_id in runtime.projects()
    try:
        suspended = runtime.suspend(spec.project_id)
        assert suspended.phase is WorkspacePhase.SUSPENDED and suspended.servers == ()
        assert not processes.alive(server.pid)
        assert processes.workspace_pids(layout.root) == set()
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "hub/oauth_login")
        with pytest.raises(RetryableError):
            runtime.hub_api(spec.project_id)
        assert runtime.suspend(spec.project_id).phase is WorkspacePhase.SUSPENDED

        # the reconciler's next step: the address answers with a redirect to spe's page
        page = f"http://spe.test/workspaces/{spec.project_id}/closed"
        runtime.show_closed(spec.project_id, page)
        runtime.show_closed(spec.project_id, page)  # idempotent
        closed = httpx.get(url + "user/bob/lab")
        assert closed.status_code == 303 and closed.headers["location"] == page
        assert processes.workspace_pids(layout.root) == set()  # a thread, not a process

        resumed = runtime.ensure(spec)
        assert resumed.phase is WorkspacePhase.READY and resumed.url == url
        again = spawn(runtime, spec.project_id, "bob")
        with again.client() as http:
            assert http.get("api/status").status_code == 200
        hub_pid = load_state(layout.state).pid
    finally:
        runtime.delete(spec.project_id)

    assert not layout.root.exists()
    assert not processes.alive(hub_pid) and not processes.alive(again.pid)
    assert processes.workspace_pids(layout.root) == set()
    assert runtime.observe(spec.project_id).phase is WorkspacePhase.ABSENT
    assert spec.project_id not in runtime.projects()
    runtime.delete(spec.project_id)  # absent is not an error


def test_changed_users_restart_the_hub_and_stop_only_departed_servers(runtime):
    spec = make_spec("p-change", users=("alice", "bob"))
    runtime.ensure(spec)
    layout = runtime.layout(spec.project_id)
    alice, bob = (spawn(runtime, spec.project_id, u) for u in ("alice", "bob"))
    hub_before = load_state(layout.state).pid
    try:
        observed = runtime.ensure(make_spec("p-change", users=("alice",)))

        assert observed.servers == ("alice",)
        assert load_state(layout.state).pid != hub_before
        assert not processes.alive(bob.pid) and processes.alive(alice.pid)
        config = json.loads(layout.config.read_text())
        assert config["GenericOAuthenticator"]["allowed_users"] == ["alice"]
        with alice.client() as http:  # re-routed by the new hub's proxy
            assert http.get("api/status").status_code == 200
    finally:
        runtime.delete(spec.project_id)


def test_stale_state_after_a_crash_is_cleaned_and_replaced(runtime):
    spec = make_spec("p-stale")
    runtime.ensure(spec)
    layout = runtime.layout(spec.project_id)
    server = spawn(runtime, spec.project_id, "alice")
    crashed = load_state(layout.state).pid
    try:
        os.killpg(crashed, signal.SIGKILL)  # hub, proxy and culler; the server survives
        wait_for(lambda: not processes.alive(crashed), what="hub to die")
        assert runtime.observe(spec.project_id).phase is WorkspacePhase.ERROR

        observed = LocalRuntime(runtime.root).ensure(spec)

        assert observed.phase is WorkspacePhase.READY
        assert load_state(layout.state).pid != crashed
        assert not processes.alive(server.pid)  # the orphaned server was swept
    finally:
        runtime.delete(spec.project_id)


NOTEBOOK = {"type": "notebook", "content": {
    "cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [],
               "execution_count": None}],
    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}


def test_idle_server_is_culled_and_the_saved_notebook_survives(runtime, audit_recorder):
    spec = make_spec("p-idle", idle_timeout_seconds=4, control_plane_url=audit_recorder.url)
    runtime.ensure(spec)
    try:
        server = spawn(runtime, spec.project_id, "alice")
        with server.client() as http:  # saved as JupyterLab saves it
            assert http.put("api/contents/analysis.ipynb", json=NOTEBOOK).status_code == 201
        wait_for(lambda: not processes.alive(server.pid), timeout=30, what="idle culling")
        assert runtime.observe(spec.project_id).servers == ()
        wait_for(lambda: any(e["action"] == "workspace.server.stop"
                             for _, e in audit_recorder.events("p-idle")),
                 what="server stop audit event")
        # back with a long timeout, so the check is not culled in turn
        runtime.ensure(dataclasses.replace(spec, profile=dataclasses.replace(
            spec.profile, idle_timeout_seconds=3600)))
        again = spawn(runtime, spec.project_id, "alice")
        with again.client() as http:
            saved = http.get("api/contents/analysis.ipynb").json()
        assert saved["content"]["cells"][0]["source"] == "x = 1"
    finally:
        runtime.delete(spec.project_id)


def test_the_work_area_survives_a_stop_and_the_project_folder_is_shared(runtime):
    spec = make_spec("p-work")
    runtime.ensure(spec)
    try:
        server = spawn(runtime, spec.project_id, "alice")
        server.execute("open('analysis.py', 'w').write('x = 1')\n"
                       "open('project/shared.txt', 'w').write('for bob')\n")
        with runtime.hub_api(spec.project_id) as api:
            api.stop_server("alice")
            api.wait_stopped({"alice"})
        assert not processes.alive(server.pid)
        again = spawn(runtime, spec.project_id, "alice")
        assert again.execute("print(open('analysis.py').read())").strip() == "x = 1"
        bob = spawn(runtime, spec.project_id, "bob")
        assert bob.execute("print(open('project/shared.txt').read())").strip() == "for bob"
    finally:
        runtime.delete(spec.project_id)


def test_a_spent_budget_refuses_new_servers_and_keeps_running_ones(runtime, audit_recorder):
    spec = make_spec("p-budget", control_plane_url=audit_recorder.url)
    runtime.ensure(spec)
    try:
        alice = spawn(runtime, spec.project_id, "alice")
        reason = "This project has used its computing budget."
        spent = dataclasses.replace(spec, spawn_refusal=reason, notice=reason)
        assert runtime.ensure(spent).servers == ("alice",)  # the hub restarts, alice stays
        config = json.loads(runtime.layout(spec.project_id).config.read_text())
        assert config["JupyterHub"]["template_vars"] == {"announcement": reason}

        with runtime.hub_api(spec.project_id) as api, \
                pytest.raises(RetryableError, match="403") as refused:
            api.start_server("bob")
        assert reason in str(refused.value)
        assert runtime.observe(spec.project_id).servers == ("alice",)
        assert processes.alive(alice.pid)
        with alice.client() as http:
            assert http.get("api/status").status_code == 200
        wait_for(lambda: any(e["action"] == "workspace.server.start"
                             and e["outcome"] == "denied" and e["user"] == "bob"
                             for _, e in audit_recorder.events("p-budget")),
                 what="the refused start's audit event")

        runtime.ensure(spec)  # the budget raised: bob starts
        bob = spawn(runtime, spec.project_id, "bob")
        with bob.client() as http:
            assert http.get("api/status").status_code == 200
    finally:
        runtime.delete(spec.project_id)
