"""Stopping ``spe up``: SIGTERM, SIGINT and kill -9 leave no workspace process behind.

A real ``spe up`` brings the demo workspace up (hub, configurable-http-proxy, idle culler) and
alice's server is started through the hub, in its own session as JupyterHub does it. Then the
control plane gets SIGTERM (systemd, Kubernetes, container runtimes), SIGINT (Ctrl-C) or
SIGKILL: every one of those processes must be gone. A graceful stop records the workspace as
suspended; a kill -9 runs no code in spe, so the runtime's watchdog stops them.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from controllers.runtimes.local import LocalRuntime, processes
from spe.audit.models import AuditEvent
from spe.db import make_engine
from spe.domain.projects import Project
from tests.e2e.test_workspace_e2e import Platform, wait_until
from tests.fixtures.workspaces import processes_under

pytestmark = pytest.mark.slow
ROLES = {"hub": "jupyterhub -f", "proxy": "configurable-http-proxy",
         "culler": "jupyterhub_idle_culler", "server": "jupyterhub.singleuser"}


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (by parent links, not sessions)."""
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, set()).add(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running_workspace(platform: Platform) -> tuple[str, dict[str, int]]:
    """Wait for the demo workspace, start alice's server; (project id, {role: pid})."""
    platform.wait_for(r"alice's workspace is ready", timeout=600)
    runtime = LocalRuntime(platform.data / "workspaces")
    (project_id,) = runtime.projects()
    with runtime.hub_api(project_id) as api:
        api.start_server("alice")
        api.wait_ready("alice", timeout=120)
    found = {}
    for pid in processes_under(platform.data):
        for role, marker in ROLES.items():
            if marker in command_line(pid):
                found[role] = pid
    assert set(found) == set(ROLES), {p: command_line(p) for p in processes_under(platform.data)}
    return project_id, found


@pytest.fixture
def platform(tmp_path):
    up = Platform(tmp_path)
    try:
        yield up
    finally:
        up.stop()
        processes.stop_pids(processes_under(up.data), timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_every_workspace_process_and_records_it(platform, sig):
    project_id, workspace = running_workspace(platform)
    children = descendants(platform.proc.pid)
    assert workspace["hub"] in children
    commands = {p: command_line(p) for p in children}
    dogs = watchdogs(children)

    platform.proc.send_signal(sig)
    assert platform.proc.wait(timeout=120) == 0, platform.stderr()

    alive = {role: pid for role, pid in workspace.items() if processes.alive(pid)}
    assert alive == {}
    assert processes_under(platform.data) == set()

    def leftovers() -> dict[int, str]:
        return {p: commands[p] for p in children - dogs if processes.alive(p)}

    # a helper of the Python runtime (multiprocessing's resource tracker) may take a moment
    # to see its parent gone; nothing may stay
    try:
        wait_until(lambda: not leftovers(), 10, "every process spe started exits")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {leftovers()}") from None
    engine = make_engine(f"sqlite:///{platform.data / 'spe.db'}")
    try:
        with Session(engine) as session:
            project = session.get(Project, project_id)
            stops = session.exec(select(AuditEvent).where(
                AuditEvent.action == "workspace.suspend",
                AuditEvent.target_id == project_id)).all()
    finally:
        engine.dispose()
    assert project.observed_state == "suspended"
    assert project.observed_message == "the control plane stopped"
    assert stops and stops[-1].details["from"] == "ready"
    # the watchdog, finding nothing left to stop, goes too
    wait_until(lambda: not any(processes.alive(p) for p in watchdogs(children)), 15,
               "the watchdog exits")


def test_kill_9_of_the_control_plane_takes_its_workspaces_down(platform):
    _, workspace = running_workspace(platform)
    children = descendants(platform.proc.pid)
    assert set(workspace.values()) <= children
    assert watchdogs(children), "no watchdog runs beside the control plane"

    started = time.monotonic()
    platform.proc.send_signal(signal.SIGKILL)
    platform.proc.wait(timeout=10)
    try:
        wait_until(lambda: not any(processes.alive(p) for p in children), 15,
                   "every process the control plane started is gone")
    except AssertionError as exc:
        alive = [command_line(p) for p in children if processes.alive(p)]
        raise AssertionError(f"{exc}: {alive}") from None
    assert processes_under(platform.data) == set()
    assert time.monotonic() - started < 15


def watchdogs(pids: set[int]) -> set[int]:
    return {p for p in pids if "controllers.runtimes.local.watchdog" in command_line(p)}
