"""Running the control plane: ``spe serve`` (the API) and ``spe up`` (the embedded platform).

``spe up`` is one process: migrations, the demo (:mod:`spe.demo`), the API under uvicorn, the
controller (:mod:`controllers.controller`) in threads with the local runtime, and the audit
checkpoint signer in a thread of its own: it alone loads the audit signing key (the API's code
path reads only the public half, as it does when the signer runs apart, ``spe audit signer``).
A permit change made through the API (the kill switch among them) wakes the controller, which
reconciles that project at once; every project is also looked at every
``reconcile_resync_seconds``. On SIGTERM (what systemd, Kubernetes and container runtimes
send) and on SIGINT (Ctrl-C) alike, the API stops, then the reconciler, then every server, hub,
proxy and idle culler of the local runtime, each workspace recorded as suspended (their data
stays for the next ``spe up``). If the process is killed outright, the runtime's watchdog
(:mod:`controllers.runtimes.local.watchdog`) stops them instead.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from rich.console import Console
from sqlalchemy.engine import Engine

from spe.db import get_engine
from spe.migrations import upgrade
from spe.platform import ApiPlatform
from spe.settings import Settings, get_settings
from spe.web import create_app

out = Console(highlight=False, soft_wrap=True)
log = logging.getLogger(__name__)
READY_TIMEOUT = 600.0


class PortInUse(Exception):
    """The address to listen on is taken: found before anything is built or printed."""


def check_port(host: str, port: int) -> None:
    """Raise :class:`PortInUse` unless ``host:port`` can be listened on now (with
    SO_REUSEADDR, as uvicorn binds: a port in TIME_WAIT is free, a listening one is not)."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def run(host: str | None = None, port: int | None = None) -> None:
    settings = get_settings()
    check_port(host or settings.host, port or settings.port)
    engine = get_engine()
    if settings.resolved_database_url.startswith("sqlite"):
        upgrade(engine)  # the embedded default migrates itself; production runs `spe db upgrade`
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(create_app(settings, engine), host=host or settings.host,
                port=port or settings.port, log_level="warning")


def embedded_settings(host: str | None, port: int | None) -> Settings:
    """The settings, with ``public_url`` following ``--host``/``--port`` unless it was set:
    the hubs send browsers there, so it must be where the API listens."""
    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    if "public_url" in settings.model_fields_set:
        return settings.model_copy(update={"host": host, "port": port})
    return settings.model_copy(update={"host": host, "port": port,
                                       "public_url": f"http://{host}:{port}"})


@contextmanager
def _stopping_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """SIGTERM and SIGINT stop ``server``, then let the caller's clean-up run.

    uvicorn handles both while it serves, but re-raises the signal when it is done: with
    SIGTERM's default action that ends the process before any ``finally`` (every hub, proxy,
    culler and server left running, orphaned). With this handler in place the re-raised
    signal only asks the server to stop (which also covers a signal arriving before uvicorn
    listens); a signal during the clean-up changes nothing, so the clean-up completes.
    """
    def handle(_sig: int, _frame) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_embedded(host: str | None = None, port: int | None = None, demo: bool = True) -> None:
    settings = embedded_settings(host, port)
    check_port(settings.host, settings.port)  # before anything is built or printed
    server = uvicorn.Server(uvicorn.Config(None, host=settings.host, port=settings.port,
                                           log_level="warning"))
    with _stopping_on_signals(server):
        _run_embedded(settings, server, demo)


def _run_embedded(settings: Settings, server: uvicorn.Server, demo: bool) -> None:
    from controllers.controller import build
    from spe.audit.signer import CheckpointSigner

    engine = get_engine()
    upgrade(engine)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    platform = ApiPlatform.build(settings, engine)  # one root: the API's and the controller's
    controller = build(settings, engine, platform)
    reconciler = controller.reconciler
    signer = CheckpointSigner.from_settings(settings, engine)  # publishes the public key
    app = create_app(platform=platform)
    app.state.reconcile_wake = wake = threading.Event()
    stop = threading.Event()
    threads = [threading.Thread(target=controller.run, args=(stop, wake),
                                name="controller", daemon=True),
               threading.Thread(target=signer.run_forever, args=(stop,),
                                name="audit-signer", daemon=True)]
    if demo:
        from spe.demo import load_demo

        info = load_demo(engine, reconciler.data_plane.store)
        _print_demo(settings, info)
        threads.append(threading.Thread(target=_announce_workspace, name="announce",
                                        args=(engine, info.project_id, stop), daemon=True))
    for thread in threads:
        thread.start()
    try:
        server.config.app = app
        server.run()
    finally:
        out.print("stopping: reconciler and checkpoint signer, then every workspace server, "
                  "hub, proxy and culler")
        stop.set()
        wake.set()
        for thread in threads:
            thread.join(timeout=READY_TIMEOUT)
        reconciler.stop_workspaces()
        out.print("stopped")


def _print_demo(settings: Settings, info) -> None:
    url = settings.public_url.rstrip("/")
    out.print(f"\n[bold]spe is starting at {url}[/]  (data in {settings.data_dir.resolve()})")
    out.print("Demo tokens, valid 7 days (re-issued at each `spe up`; the previous ones are "
              "revoked). Use them as `Authorization: Bearer …` or to sign in:")
    for subject, (role, secret) in info.tokens.items():
        out.print(f"  {subject:<10} {role.value:<15} {secret}")
    out.print(f"\nFor the command line: export SPE_URL={url} SPE_TOKEN=<a token above>")
    out.print(f"API docs:        {url}/docs")
    out.print(f"Demo permit:     {info.permit_reference}, project {info.project_id} "
              "(names alice; bob is refused)")
    out.print(f"Sign in as alice: open {url}/auth/login and paste alice's token; then open "
              "her workspace (printed below once ready): the hub logs her in through spe.")
    out.print(f"Kill switch:     spe project halt {info.project_id} --reason '…' "
              "(SPE_TOKEN = pm's token)\n")


def _announce_workspace(engine: Engine, project_id: str, stop: threading.Event) -> None:
    """Print the demo workspace's URL once the reconciler reports it ready (in this run:
    a URL recorded by an earlier run may be of a hub that is not up yet)."""
    from sqlmodel import Session

    from spe.db.types import utcnow
    from spe.domain.projects import Project

    started = utcnow()
    deadline = time.monotonic() + READY_TIMEOUT
    while not stop.wait(1.0) and time.monotonic() < deadline:
        with Session(engine) as session:
            project = session.get(Project, project_id)
        if project.observed_at is None or project.observed_at < started:
            continue
        if project.observed_state == "ready" and project.workspace_url:
            url = project.workspace_url
            out.print(f"[bold green]alice's workspace is ready:[/] {url}  (signed in to spe, "
                      f"go straight through: {url}hub/oauth_login)")
            return
        if project.observed_state == "error":
            out.print(f"[red]workspace {project_id}: {project.observed_message}[/]")
            return
