"""Running the control plane: ``spe serve`` (the API) and ``spe up`` (the embedded platform).

``spe up`` is one process: migrations, the demo (:mod:`spe.demo`), the API under uvicorn, the
controller (:mod:`controllers.controller`) in threads with the local runtime; and beside it
one child process, the audit checkpoint signer (``spe audit signer``, :func:`start_signer`),
the only one to open the audit signing key: the API's process reads only the public half,
as it does when the signer runs apart. A permit change made through the API (the kill switch
among them) wakes the controller, which reconciles that project at once; every project is
also looked at every ``reconcile_resync_seconds``. On SIGTERM (what systemd, Kubernetes and
container runtimes send) and on SIGINT (Ctrl-C) alike, the API stops, then the reconciler and
the signer, then every server, hub, proxy and idle culler of the local runtime, each
workspace recorded as suspended (their data stays for the next ``spe up``). If the process is
killed outright, the kernel stops the signer (PR_SET_PDEATHSIG) and the runtime's watchdog
(:mod:`controllers.runtimes.local.watchdog`) the workspaces. A signer that stops by itself
stops ``spe up``: nothing would sign the log's checkpoints.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from rich.console import Console
from sqlalchemy.engine import Engine

from spe.audit.signer import RUNNING as SIGNER_RUNNING
from spe.db import get_engine
from spe.migrations import upgrade
from spe.platform import ApiPlatform
from spe.settings import Settings, get_settings
from spe.web import create_app

out = Console(highlight=False, soft_wrap=True)
log = logging.getLogger(__name__)
READY_TIMEOUT = 600.0
SIGNER_START_SECONDS = 60.0
SIGNER_STOP_SECONDS = 30.0


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
    engine = get_engine()
    upgrade(engine)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    signer = start_signer(settings)  # from this, the main thread: it lives until the end
    try:
        _serve(settings, server, demo, engine, signer)
    finally:
        stop_signer(signer)


def _serve(settings: Settings, server: uvicorn.Server, demo: bool, engine: Engine,
           signer: subprocess.Popen) -> None:
    from controllers.controller import build

    platform = ApiPlatform.build(settings, engine)  # one root: the API's and the controller's
    controller = build(settings, engine, platform)
    reconciler = controller.reconciler
    app = create_app(platform=platform)
    app.state.reconcile_wake = wake = threading.Event()
    stop = threading.Event()
    threads = [threading.Thread(target=controller.run, args=(stop, wake),
                                name="controller", daemon=True),
               threading.Thread(target=_watch_signer, args=(signer, server, stop),
                                name="signer-watch", daemon=True)]
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
        stop_signer(signer)
        for thread in threads:
            thread.join(timeout=READY_TIMEOUT)
        reconciler.stop_workspaces()
        out.print("stopped")


def start_signer(settings: Settings) -> subprocess.Popen:
    """``spe audit signer`` in a process of its own, given the signing key's path: the only
    process of ``spe up`` that opens the key. It stops when this process ends, however it
    ends (``--parent-pid``: PR_SET_PDEATHSIG, so it must be started from the thread that
    outlives the others, the main one). Its messages are relayed to this process's standard
    error. Returns once it runs (its public key published for the API), :class:`SignerFailed`
    if it stops first or does not within :data:`SIGNER_START_SECONDS`."""
    env = {**os.environ,
           "SPE_AUDIT_SIGNING_KEY_PATH": str(settings.resolved_audit_signing_key_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "spe", "audit", "signer", "--parent-pid", str(os.getpid())],
        env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    running = threading.Event()

    def relay() -> None:
        for line in process.stderr:
            sys.stderr.write(line)
            if line.startswith(SIGNER_RUNNING):
                running.set()

    threading.Thread(target=relay, name="signer-output", daemon=True).start()
    deadline = time.monotonic() + SIGNER_START_SECONDS
    while not running.wait(0.1):
        if process.poll() is not None:
            raise SignerFailed(f"the audit checkpoint signer stopped at start (exit "
                               f"{process.returncode}): its error is above")
        if time.monotonic() > deadline:
            stop_signer(process)
            raise SignerFailed(f"the audit checkpoint signer did not start within "
                               f"{SIGNER_START_SECONDS:g} s")
    return process


def stop_signer(process: subprocess.Popen) -> None:
    """SIGTERM (the signer finishes its turn), then SIGKILL after :data:`SIGNER_STOP_SECONDS`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=SIGNER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _watch_signer(signer: subprocess.Popen, server: uvicorn.Server,
                  stop: threading.Event) -> None:
    """Stop ``spe up`` if the signer stops while it runs: checkpoints would go unsigned."""
    while not stop.wait(1.0):
        if signer.poll() is not None:
            out.print(f"[red]the audit checkpoint signer stopped (exit {signer.returncode}): "
                      "stopping spe, since nothing would sign the audit log[/]")
            server.should_exit = True
            return


class SignerFailed(RuntimeError):
    """The checkpoint signer of ``spe up`` did not start."""


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
