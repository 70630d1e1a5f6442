"""The controller: the reconciler fed by a work queue, as a process (``spe controller``) or
threads of the embedded server (``spe up``).

Each project is a key in a :class:`~controllers.queue.WorkQueue`; ``SPE_RECONCILE_WORKERS``
threads take keys and reconcile them (:meth:`Reconciler.reconcile
<controllers.reconciler.Reconciler.reconcile>`), never one project in two threads at once.
Keys come from:

* the change feed (:mod:`controllers.changes`): every ``SPE_RECONCILE_INTERVAL_SECONDS``, and
  at once when a route of the same process wakes it, the projects whose permit changed since
  the last look (a grant, an amendment, a halt, a revocation, an expiry);
* a resync every ``SPE_RECONCILE_RESYNC_SECONDS``: every project, for drift (a hub that
  died, an object someone edited), and the orphans torn down;
* the reconciler itself: a retryable failure puts the project back after a delay that
  doubles with each failure of that project (:class:`~controllers.queue.Backoff`), so the
  others are not held up; a permit that starts or ends later is looked at again then; a
  terminal failure is recorded on the project (``error``) and waits for the next change or
  resync, not retried in a loop.

The periodic jobs (:mod:`controllers.jobs`: permit expiry, usage samples, the quarantine's
sweep) run in a thread of their own, each on its own schedule.

On Kubernetes several replicas may run: only the holder of the Lease
``<SPE_KUBERNETES_LEASE_NAMESPACE>/<SPE_KUBERNETES_LEASE_NAME>`` reconciles and runs the jobs
(the Helm chart sets the release namespace; the identity is the host name, in a pod its
name, and the pid). A keeper thread renews the lease every third of its duration, so a long
reconcile (a large extract) does not lose it. A replica that loses it finishes the
projects under way and drops the rest of its queue; one that gains it starts with a resync.
Reconciling being idempotent, an overlap is harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated

import typer

from controllers.queue import Backoff, WorkQueue

if TYPE_CHECKING:  # the CLI imports this module: the heavy parts load only when run
    from sqlalchemy.engine import Engine

    from controllers.health import Heartbeat  # its HTTP server costs every command 15 ms
    from controllers.jobs import Job
    from controllers.reconciler import Reconciler, Result
    from controllers.runtimes.base import Runtime
    from controllers.usage import UsageMeter
    from spe.platform import Platform
    from spe.settings import Settings

log = logging.getLogger(__name__)
LEASE_SECONDS = 15
JOBS_TICK_SECONDS = 1.0


def build(settings: Settings, engine: Engine, platform: Platform | None = None) -> Controller:
    """The controller over ``platform``, the process's composition root (default: the
    controller's, built here once; the embedded server passes the one it shares with its
    API): the runtime the settings name, the data plane (which writes each extract where the
    runtime wants it, if it does), the jobs."""
    from controllers.jobs import standard_jobs
    from controllers.reconciler import Reconciler
    from controllers.runtimes.registry import make_runtime
    from spe.platform import Platform

    root = platform or Platform.build(settings, engine)
    runtime = make_runtime(root.settings)
    plane = root.data_plane.delivering_to(runtime.extract_dir)
    reconciler = Reconciler(root.engine, runtime, root.settings, root.secret_box, plane)
    jobs = standard_jobs(root.engine, root.settings, meter=usage_meter(runtime),
                         quarantine=root.object_store)
    options = root.settings.controller
    return Controller(reconciler, jobs, poll_seconds=options.reconcile_interval_seconds,
                      resync_seconds=options.reconcile_resync_seconds,
                      workers=options.reconcile_workers)


def usage_meter(runtime: Runtime) -> UsageMeter:
    """The meter that reads what ``runtime``'s workspaces use (docs/usage.md), by the
    runtime's name: the meters read the runtimes' objects, so the runtimes cannot name them
    (controllers.usage imports controllers.runtimes)."""
    from controllers.usage.kubernetes import KubernetesUsageMeter
    from controllers.usage.local import LocalUsageMeter

    meters: dict[str, Callable[[], UsageMeter]] = {
        "local": lambda: LocalUsageMeter(runtime.root / "projects"),
        "kubernetes": lambda: KubernetesUsageMeter(runtime.client, runtime.cluster,
                                                   runtime.projects),
    }
    return meters[runtime.name]()


class Controller:
    """The reconciler, its work queue and what feeds it, and the periodic jobs (module
    docstring); :meth:`run` until stopped."""

    def __init__(self, reconciler: Reconciler, jobs: Iterable[Job] = (), *,
                 poll_seconds: float = 0.5, resync_seconds: float = 60.0,
                 workers: int = 4) -> None:
        from controllers.changes import ChangeFeed

        self.reconciler = reconciler
        self.jobs = list(jobs)
        self.poll_seconds, self.resync_seconds, self.workers = \
            poll_seconds, resync_seconds, workers
        self.queue = WorkQueue()
        self.backoff = Backoff()
        self.feed = ChangeFeed(reconciler.engine)

    # --- what feeds the queue ---------------------------------------------------------
    def resync(self) -> None:
        """Every project into the queue; the orphans torn down."""
        for project_id in self.reconciler.project_ids():
            self.queue.add(project_id)
        self.reconciler.delete_orphans()

    def poll_changes(self) -> list[str]:
        """The projects whose permit changed since the last call, into the queue ahead of
        the resync's."""
        changed = self.feed.changed()
        for project_id in changed:
            self.queue.add(project_id, urgent=True)
        return changed

    def process(self, project_id: str) -> Result | None:
        """Reconcile one project taken from the queue, and put it back if it must be."""
        try:
            result = self.reconciler.reconcile(project_id)
        except Exception:  # the database away: as any retryable failure
            log.exception("project %s: reconcile failed", project_id)
            self.queue.add_after(project_id, self.backoff.next_delay(project_id))
            return None
        if result.retry:
            self.queue.add_after(project_id, self.backoff.next_delay(project_id))
        else:
            self.backoff.forget(project_id)
            if result.recheck_after is not None:
                self.queue.add_after(project_id, result.recheck_after)
        return result

    # --- the loops ----------------------------------------------------------------------
    def run(self, stop: threading.Event, wake: threading.Event | None = None,
            leading: Callable[[], bool] = lambda: True,
            heartbeat: Heartbeat | None = None) -> None:
        """Until ``stop``: the workers and the jobs in threads, the feed and the resync in
        this one, waking every poll interval or when ``wake`` is set. Only while
        ``leading()`` is anything done (always, without a lease)."""
        threads = [threading.Thread(target=self._work, args=(leading,), daemon=True,
                                    name=f"reconcile-{n}") for n in range(self.workers)]
        threads.append(threading.Thread(target=self._run_jobs, args=(stop, leading),
                                        daemon=True, name="jobs"))
        for thread in threads:
            thread.start()
        wake = wake or threading.Event()
        led, next_resync = False, 0.0
        try:
            while not stop.is_set():
                if leading():
                    try:
                        if not led:  # watch from now on, then look at everything once
                            self.feed.start()
                            next_resync = 0.0
                        led = True
                        self.poll_changes()
                        if time.monotonic() >= next_resync:
                            next_resync = time.monotonic() + self.resync_seconds
                            self.resync()
                    except Exception:  # the database away: the next turn tries again
                        log.exception("feeding the reconcile queue")
                else:
                    led = False
                if heartbeat is not None:
                    heartbeat.beat()
                wake.wait(self.poll_seconds)
                wake.clear()
        finally:
            self.queue.shut_down()
            for thread in threads:
                thread.join()

    def _work(self, leading: Callable[[], bool]) -> None:
        while (project_id := self.queue.get()) is not None:
            try:
                if leading():  # else dropped: the leader reconciles it
                    self.process(project_id)
            finally:
                self.queue.done(project_id)

    def _run_jobs(self, stop: threading.Event, leading: Callable[[], bool]) -> None:
        while not stop.is_set():
            if leading():
                for job in self.jobs:
                    job.run_if_due()
            stop.wait(JOBS_TICK_SECONDS)


def run_as_leader(controller: Controller, stop: threading.Event, lease,
                  heartbeat: Heartbeat | None = None) -> None:
    """Run ``controller`` while holding ``lease`` (a :class:`LeaseLock`); give it up on
    ``stop``. ``heartbeat`` beats once per turn of the loop (the health probes read it)."""
    keeper = threading.Thread(target=_keep_lease, args=(lease, stop), daemon=True,
                              name="lease-keeper")
    keeper.start()
    try:
        controller.run(stop, leading=lambda: lease.is_leader, heartbeat=heartbeat)
    finally:
        keeper.join()
        lease.release()


def _keep_lease(lease, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            lease.try_acquire_or_renew()
        except Exception:  # the API server away: we stop leading when the lease runs out
            log.exception("leader lease")
        stop.wait(lease.duration / 3)


app = typer.Typer(help="The reconciler: permits become workspaces, and stop being them.")


@app.callback(invoke_without_command=True)
def controller(
    once: Annotated[bool, typer.Option(help="Run each periodic job once, then reconcile "
                                             "every project once, and exit.")] = False,
) -> None:
    """Run the reconciler (leader-elected on Kubernetes) until interrupted (SIGINT or SIGTERM;
    on the local runtime, every workspace is then suspended)."""
    import signal

    from spe.db import get_engine
    from spe.settings import get_settings
    from spe.threads import stop_on_signals

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    controller = build(settings, get_engine())
    if once:
        for job in controller.jobs:
            job.run_if_due()
        for result in controller.reconciler.run_once():
            typer.echo(f"{result.project_id}: {result.desired} -> {result.observed}"
                       + (f" ({result.error})" if result.error else ""))
        return
    stop = threading.Event()
    stop_on_signals(stop, signal.SIGINT, signal.SIGTERM)
    if settings.runtime == "kubernetes":
        from controllers.health import Heartbeat, serve_health
        from controllers.runtimes.kubernetes import KubeClient, LeaseLock

        heartbeat = Heartbeat()
        if settings.controller_health_port:
            serve_health(heartbeat, settings.controller_health_port)
        identity = f"{socket.gethostname()}-{os.getpid()}"
        run_as_leader(controller, stop, LeaseLock(
            KubeClient(), settings.kubernetes_lease_namespace, settings.kubernetes_lease_name,
            identity, duration_seconds=LEASE_SECONDS), heartbeat)
    else:  # the local runtime's workspaces are this process's children: they stop with it
        controller.run(stop)
        controller.reconciler.stop_workspaces()
