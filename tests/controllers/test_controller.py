"""The controller: a work queue per project, fed by permit changes and a resync; failures
retried with backoff for their project alone; the periodic jobs apart from reconciling."""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager

from sqlmodel import Session

from controllers.controller import Controller
from controllers.jobs import Job, expire_permits
from controllers.queue import Backoff
from controllers.reconciler import Reconciler
from spe.db import session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import Permit, PermitStatus
from spe.domain.projects import Project
from spe.errors import RetryableError, TerminalError
from tests.controllers.conftest import MemoryRuntime
from tests.controllers.test_reconciler import MANAGER, grant, state

HOUR = 3600.0


def wait_until(check, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not met in {timeout} s"
        time.sleep(0.02)
    return result


@contextmanager
def running(controller: Controller, wake: threading.Event | None = None):
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop, wake), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        if wake is not None:
            wake.set()
        thread.join(15)


def controller_over(engine, runtime, settings, box, **options) -> Controller:
    options = {"poll_seconds": 0.05, "resync_seconds": HOUR, "workers": 2, **options}
    return Controller(Reconciler(engine, runtime, settings, box), **options)


def test_one_failing_project_backs_off_alone(engine, settings, box):
    runtime = MemoryRuntime()
    _, broken = grant(engine)
    _, healthy = grant(engine)
    attempts: list[float] = []
    real = runtime.ensure

    def ensure(spec):
        if spec.project_id == broken:
            attempts.append(time.monotonic())
            raise RetryableError("API server throttling")
        return real(spec)

    runtime.ensure = ensure
    controller = controller_over(engine, runtime, settings, box)
    controller.backoff = Backoff(base=0.1, cap=10)
    with running(controller):
        wait_until(lambda: state(engine, healthy) == "ready", what="the healthy project ready")
        wait_until(lambda: len(attempts) >= 4, what="four attempts")
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 0.1 * 2 ** n * 0.95 for n, gap in enumerate(gaps[:3])), gaps
    assert controller.backoff.failures(broken) >= 4 and controller.backoff.failures(healthy) == 0
    assert runtime.starts == 1 and set(runtime.hubs) == {healthy}


def test_a_terminal_failure_is_reported_on_the_project_not_retried(engine, settings, box):
    runtime = MemoryRuntime()
    _, project = grant(engine)
    calls = []

    def ensure(spec):
        calls.append(spec.project_id)
        raise TerminalError("profile asks for GPUs the cluster has not")

    runtime.ensure = ensure
    controller = controller_over(engine, runtime, settings, box)
    controller.backoff = Backoff(base=0.05, cap=0.05)
    with running(controller):
        wait_until(lambda: state(engine, project) == "error", what="the error recorded")
        time.sleep(0.5)  # ten backoff delays
    assert calls == [project]
    with Session(engine) as s:
        assert "GPUs" in s.get(Project, project).observed_message


def test_a_permit_change_is_read_from_the_audit_log_without_a_resync(engine, settings, box):
    """A separate controller process: nobody wakes it; it polls the change feed."""
    runtime = MemoryRuntime()
    controller = controller_over(engine, runtime, settings, box)
    with running(controller):
        permit, project = grant(engine)  # after the start-up resync: only the feed sees it
        wait_until(lambda: state(engine, project) == "ready", what="the new permit's workspace")
        with session_scope(engine) as s:
            lifecycle.suspend_permit(s, permit, "incident", MANAGER)
        wait_until(lambda: state(engine, project) == "suspended", what="the suspension")
        assert not runtime.hubs[project]["running"]
        with session_scope(engine) as s:
            lifecycle.revoke_permit(s, permit, "ended", MANAGER)
        wait_until(lambda: project not in runtime.hubs, what="the revocation")


def test_a_halt_wakes_the_controller_at_once(engine, settings, box):
    """The embedded platform: the route wakes the controller (spe.api.deps.wake_reconciler);
    with a poll interval and a resync an hour long, only the wake can explain the halt."""
    runtime = MemoryRuntime()
    permit, project = grant(engine)
    wake = threading.Event()
    controller = controller_over(engine, runtime, settings, box, poll_seconds=HOUR)
    with running(controller, wake):
        wait_until(lambda: state(engine, project) == "ready", what="the start-up resync")
        halted_at = time.monotonic()
        with session_scope(engine) as s:
            lifecycle.suspend_permit(s, permit, "kill switch", MANAGER)
        wake.set()
        wait_until(lambda: not runtime.hubs[project]["running"], what="the halt")
        assert time.monotonic() - halted_at < 10


def test_jobs_run_on_their_own_while_a_reconcile_is_stuck(engine, settings, box):
    runtime = MemoryRuntime()
    expired, _ = grant(engine, days=1, starts_in_days=-3)
    _, slow = grant(engine)
    release = threading.Event()
    real = runtime.ensure

    def ensure(spec):
        release.wait(30)  # a hub that takes its time to come up
        return real(spec)

    runtime.ensure = ensure
    runs = []
    jobs = [Job("permit expiry", HOUR, lambda: expire_permits(engine)),
            Job("count", 0.05, lambda: runs.append(time.monotonic()))]
    controller = Controller(Reconciler(engine, runtime, settings, box), jobs,
                            poll_seconds=0.05, resync_seconds=HOUR, workers=1)
    try:
        with running(controller):
            wait_until(lambda: len(runs) >= 3, what="the job's runs")
            with Session(engine) as s:
                assert s.get(Permit, expired).status is PermitStatus.expired
            assert state(engine, slow) != "ready"  # still stuck in its reconcile
            release.set()
            wait_until(lambda: state(engine, slow) == "ready", what="the slow project")
    finally:
        release.set()
