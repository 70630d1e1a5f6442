"""The controller: the reconciler loop as a process (``spe controller``) or a thread of the
embedded server (``spe up``).

:func:`build` wires a :class:`~controllers.reconciler.Reconciler` from settings: the runtime
(:func:`controllers.runtimes.make_runtime`) and the data plane
(:class:`spe.dataplane.ProjectDataPlane`), which, on the local runtime, also writes the
decrypted extract into each workspace's extract directory (the Kubernetes runtime's servers
fetch it through the grant instead).

On Kubernetes several replicas may run: only the holder of the Lease
``<SPE_KUBERNETES_LEASE_NAMESPACE>/<SPE_KUBERNETES_LEASE_NAME>`` reconciles (the Helm chart
sets the release namespace; the identity is the host name, in a pod its name, and the pid).
A keeper thread renews the lease every third of its duration, so a long pass (a large
extract) does not lose it; a replica that loses it stops after the pass under way, and
passes being idempotent, the overlap is harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the CLI imports this module: the heavy parts load only when run
    from sqlalchemy.engine import Engine

    from controllers.health import Heartbeat  # its HTTP server costs every command 15 ms
    from controllers.reconciler import Reconciler
    from spe.platform import Platform
    from spe.settings import Settings

log = logging.getLogger(__name__)
LEASE_SECONDS = 15


def build(settings: Settings, engine: Engine, platform: Platform | None = None) -> Reconciler:
    """The reconciler over ``platform``, the process's composition root (default: the
    controller's, built here once; the embedded server passes the one it shares with its
    API)."""
    from controllers.reconciler import Reconciler
    from controllers.runtimes import make_runtime
    from controllers.runtimes.local import LocalRuntime
    from spe.platform import Platform

    root = platform or Platform.build(settings, engine)
    runtime = make_runtime(root.settings)
    plane = (root.data_plane.delivering_to(lambda project_id: runtime.layout(project_id).extract)
             if isinstance(runtime, LocalRuntime) else root.data_plane)
    return Reconciler(root.engine, runtime, root.settings, root.secret_box, plane,
                      quarantine=root.object_store, meter=usage_meter(runtime))


def usage_meter(runtime):
    """The meter that reads what ``runtime``'s workspaces use (docs/usage.md)."""
    from controllers.runtimes.local import LocalRuntime
    from controllers.usage.kubernetes import KubernetesUsageMeter
    from controllers.usage.local import LocalUsageMeter

    if isinstance(runtime, LocalRuntime):
        return LocalUsageMeter(runtime.root / "projects")
    return KubernetesUsageMeter(runtime.client, runtime.cluster, runtime.projects)


def run_as_leader(reconciler: Reconciler, stop: threading.Event, lease,
                  heartbeat: Heartbeat | None = None) -> None:
    """Reconcile while holding ``lease`` (a :class:`LeaseLock`); give it up on ``stop``.
    ``heartbeat`` beats once per turn of the loop (the health probes read it)."""
    keeper = threading.Thread(target=_keep_lease, args=(lease, stop), daemon=True,
                              name="lease-keeper")
    keeper.start()
    try:
        while not stop.is_set():
            if lease.is_leader:
                reconciler.tick()
            if heartbeat is not None:
                heartbeat.beat()
            stop.wait(reconciler.settings.reconcile_interval_seconds)
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
    once: Annotated[bool, typer.Option(help="Run one pass and exit.")] = False,
) -> None:
    """Run the reconciler (leader-elected on Kubernetes) until interrupted (SIGINT or SIGTERM;
    on the local runtime, every workspace is then suspended)."""
    import signal

    from spe.db import get_engine
    from spe.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    reconciler = build(settings, get_engine())
    if once:
        for result in reconciler.run_once():
            typer.echo(f"{result.project_id}: {result.desired} -> {result.observed}"
                       + (f" ({result.error})" if result.error else ""))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if settings.runtime == "kubernetes":
        from controllers.health import Heartbeat, serve_health
        from controllers.runtimes.kubernetes import KubeClient, LeaseLock

        heartbeat = Heartbeat()
        if settings.controller_health_port:
            serve_health(heartbeat, settings.controller_health_port)
        identity = f"{socket.gethostname()}-{os.getpid()}"
        run_as_leader(reconciler, stop, LeaseLock(
            KubeClient(), settings.kubernetes_lease_namespace, settings.kubernetes_lease_name,
            identity, duration_seconds=LEASE_SECONDS), heartbeat)
    else:  # the local runtime's workspaces are this process's children: they stop with it
        reconciler.run_forever(stop)
        reconciler.stop_workspaces()
