"""The ``local`` runtime: one real JupyterHub per project, as processes on this machine.

Not a security boundary: every hub, proxy, user server and kernel runs as the OS user of the
control plane (root in the test containers, which file modes do not stop), with the same
network and file system view. It exists for the embedded default and the tests; production
workspaces run on the ``kubernetes`` runtime. See docs/workspaces.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import astuple
from pathlib import Path
from typing import Any, ClassVar

import httpx

from controllers.runtimes.base import ObservedWorkspace, Runtime, WorkspacePhase
from controllers.runtimes.closed import ClosedPage
from controllers.runtimes.local import encryption, processes, state, watchdog
from controllers.runtimes.local.hubapi import RUNTIME_SCOPES, RUNTIME_SERVICE, HubAPI
from controllers.runtimes.local.layout import ProjectLayout, unseal
from controllers.runtimes.local.state import HubState, Ports
from spe.crypto.canonical import canonical_json
from spe.errors import RetryableError, TerminalError
from spe.settings import Settings
from workspaces.hubconfig import (
    HUB_CONFIG_ENV,
    HUB_CONFIG_FILE,
    LAB_EXTENSIONS,
    WORKSPACE_MARKER_ENV,
    common_traits,
)
from workspaces.spec import WorkspaceSpec

log = logging.getLogger(__name__)

PROJECT_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,127}$")  # lower case: the hub normalises names
HEALTH_PROBE_TIMEOUT = 2.0
_watchdogs: dict[Path, subprocess.Popen] = {}  # per runtime root, in this process
_watchdogs_lock = threading.Lock()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the hub binds it
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _proxy_command() -> str:
    """The PyPI ``configurable-http-proxy`` next to this Python (not a pyenv shim), else PATH."""
    beside = Path(sys.executable).with_name("configurable-http-proxy")
    found = str(beside) if beside.exists() else shutil.which("configurable-http-proxy")
    if not found:
        raise TerminalError("configurable-http-proxy is not installed (pip package of that name)")
    return found


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


def validate(spec: WorkspaceSpec) -> None:
    if not PROJECT_ID.match(spec.project_id):
        raise TerminalError(f"project id {spec.project_id!r} is not a DNS-1123 label")
    wrong = [u for u in spec.users if not USERNAME.match(u)]
    if wrong:
        raise TerminalError(f"invalid hub usernames {wrong}: lower case letters, digits, ._@-")
    if spec.profile.gpus:
        raise TerminalError(f"profile {spec.profile.name!r} asks for GPUs: the local runtime "
                            "has none (GPU workspaces run on the Kubernetes runtime)")


class LocalRuntime(Runtime):
    """Runs each project's hub under ``<root>/projects/<id>/`` (layout in :mod:`.layout`)."""

    name: ClassVar[str] = "local"

    def __init__(self, root: Path, *, start_timeout: float = 60.0,
                 encrypt_work_areas: bool | None = None) -> None:
        """``encrypt_work_areas``: ``None`` (the default) encrypts them when this machine
        can (:func:`.encryption.probe`), ``False`` never does."""
        self.root = Path(root).resolve()
        self.start_timeout = start_timeout
        self._encrypts = encrypt_work_areas
        self._children: dict[str, subprocess.Popen] = {}  # hubs this object started
        self._closed: dict[str, ClosedPage] = {}  # suspended workspaces' redirect pages

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalRuntime:
        """Under ``SPE_LOCAL_RUNTIME_ROOT``, by default ``<data_dir>/workspaces``."""
        return cls(settings.controller.local_runtime_root)

    # -- the Runtime contract ---------------------------------------------------------------

    def encrypts_work_areas(self) -> bool:
        """With gocryptfs and FUSE (:mod:`.encryption`), probed once."""
        if self._encrypts is None:
            reason = encryption.probe(self.root)
            if reason:
                log.warning("local work areas will not be encrypted (deleted, not "
                            "crypto-shredded, when a permit ends): %s", reason)
            self._encrypts = not reason
        return self._encrypts

    def ensure(self, spec: WorkspaceSpec) -> ObservedWorkspace:
        validate(spec)
        self._watch()
        self._close_page(spec.project_id)  # the hub takes its port back
        layout = self.layout(spec.project_id)
        layout.create()
        running, previous = self._adopt(layout)
        ports = self._ports(running, previous)
        config = self._config(spec, layout, ports)
        digest = hashlib.sha256(canonical_json(config)).hexdigest()
        if running and running.config_hash == digest:
            self._unlock(spec, layout)
            return self.observe(spec.project_id)
        if running:
            log.info("workspace %s: configuration changed, restarting its hub", spec.project_id)
            self._stop_departed_users(layout, running, set(spec.users))
            self._stop_hub(spec.project_id, running)  # the other users' servers keep running
        else:  # leftovers of a crash or of an interrupted start
            processes.stop_pids(processes.workspace_pids(layout.root))
        self._unlock(spec, layout)
        fd = os.open(layout.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent=2)
        pid = self._start_hub(spec.project_id, layout)
        state.save(layout.state, HubState(ports=ports, config_hash=digest, pid=pid))
        self._wait_healthy(spec.project_id, layout, HubState(ports, digest, pid))
        return self.observe(spec.project_id)

    def suspend(self, project_id: str) -> ObservedWorkspace:
        layout = self.layout(project_id)
        if not layout.root.exists():
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT)
        running, previous = self._adopt(layout)
        if running:
            self._stop_all_servers(layout, running)
            self._stop_hub(project_id, running)
        self._lock(layout)
        last = running or previous
        if last:
            state.save(layout.state, HubState(last.ports, last.config_hash, None, suspended=True))
        return self.observe(project_id)

    def show_closed(self, project_id: str, page_url: str) -> None:
        current = state.load(self.layout(project_id).state)
        page = self._closed.get(project_id)
        if current is None or not current.suspended or \
                (page is not None and page.target == page_url):
            return
        self._close_page(project_id)
        try:
            self._closed[project_id] = ClosedPage(current.ports.public, page_url)
        except OSError as e:  # the port taken meanwhile: the address just stays unanswered
            log.warning("workspace %s: no closed page on port %s: %s", project_id,
                        current.ports.public, e)

    def _close_page(self, project_id: str) -> None:
        page = self._closed.pop(project_id, None)
        if page is not None:
            page.close()

    def delete(self, project_id: str) -> None:
        self._close_page(project_id)
        layout = self.layout(project_id)
        if not layout.root.exists():
            return
        running, _ = self._adopt(layout)
        if running:
            try:
                self._stop_all_servers(layout, running)
            except RetryableError as e:  # the hub stops them too; the sweep below catches the rest
                log.warning("workspace %s: stopping servers through the hub: %s", project_id, e)
            self._stop_hub(project_id, running)
        self._lock(layout)
        unseal(layout.root)
        shutil.rmtree(layout.root)

    def observe(self, project_id: str) -> ObservedWorkspace:
        layout = self.layout(project_id)
        if not layout.root.exists():
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT)
        current = state.load(layout.state)
        if current is None:
            return ObservedWorkspace(project_id, WorkspacePhase.PROVISIONING,
                                     message="hub not started yet")
        if current.suspended:
            return ObservedWorkspace(project_id, WorkspacePhase.SUSPENDED, url=current.url)
        if current.pid is None or not processes.alive(current.pid):
            return ObservedWorkspace(project_id, WorkspacePhase.ERROR, url=current.url,
                                     message=f"hub process {current.pid} is gone; see {layout.log}")
        if not self._healthy(current):
            return ObservedWorkspace(project_id, WorkspacePhase.PROVISIONING, url=current.url,
                                     message="hub not answering /hub/health yet")
        try:
            with self._api(layout, current) as api:
                servers = tuple(sorted({s.user for s in api.servers() if s.ready}))
        except RetryableError as e:
            return ObservedWorkspace(project_id, WorkspacePhase.READY, url=current.url,
                                     message=f"cannot list servers: {e}")
        return ObservedWorkspace(project_id, WorkspacePhase.READY, url=current.url,
                                 servers=servers)

    def projects(self) -> set[str]:
        base = self.root / "projects"
        return {p.name for p in base.iterdir() if p.is_dir()} if base.exists() else set()

    def extract_dir(self, project_id: str) -> Path:
        """The servers mount the extract read-only from the project's folder."""
        return self.layout(project_id).extract

    # -- helpers others may call ------------------------------------------------------------

    def layout(self, project_id: str) -> ProjectLayout:
        if not PROJECT_ID.match(project_id):
            raise TerminalError(f"project id {project_id!r} is not a DNS-1123 label")
        return ProjectLayout(self.root / "projects" / project_id)

    def hub_api(self, project_id: str) -> HubAPI:
        """A hub REST API client authenticated as the runtime's service (caller closes it)."""
        layout = self.layout(project_id)
        current = state.load(layout.state)
        if current is None or current.suspended:
            raise RetryableError(f"workspace {project_id} has no running hub")
        return self._api(layout, current)

    # -- internals --------------------------------------------------------------------------

    def _watch(self) -> None:
        """Make sure a :mod:`watchdog` stops this root's workspaces if this process dies,
        before any hub is started or adopted."""
        with _watchdogs_lock:
            running = _watchdogs.get(self.root)
            if running is None or running.poll() is not None:
                _watchdogs[self.root] = watchdog.start(self.root)

    def _api(self, layout: ProjectLayout, current: HubState) -> HubAPI:
        return HubAPI(current.api_url, layout.secret("runtime_token"))

    @staticmethod
    def _ports(running: HubState | None, previous: HubState | None) -> Ports:
        """Keep the workspace's ports (and so its URL) across restarts while they are free."""
        if running:
            return running.ports
        if previous and all(_port_free(p) for p in astuple(previous.ports)):
            return previous.ports
        return Ports(_free_port(), _free_port(), _free_port())

    def _config(self, spec: WorkspaceSpec, layout: ProjectLayout, ports: Ports) -> dict:
        common = common_traits(spec)
        local = {
            "JupyterHub": {
                "bind_url": f"http://127.0.0.1:{ports.public}/",
                "hub_bind_url": f"http://127.0.0.1:{ports.hub}",
                "db_url": layout.database_url,
                "cookie_secret_file": str(layout.cookie_secret),
                "spawner_class": "workspaces.localspawner.SpeLocalSpawner",
                # a hub restart (configuration change) keeps the remaining users' servers
                "cleanup_servers": False,
                "services": [{"name": RUNTIME_SERVICE,
                              "api_token": layout.secret("runtime_token")}],
                "load_roles": [{"name": RUNTIME_SERVICE, "scopes": RUNTIME_SCOPES,
                                "services": [RUNTIME_SERVICE]}],
            },
            "ConfigurableHTTPProxy": {
                "command": [_proxy_command()],
                "api_url": f"http://127.0.0.1:{ports.proxy_api}",
            },
            "SpeLocalSpawner": {
                "project_dir": str(layout.root),
                "extract_dir": str(layout.extract),
                "environment": {**common["Spawner"]["environment"],
                                "JUPYTER_PATH": str(LAB_EXTENSIONS)},
            },
        }
        return _merge(common, local)

    def _start_hub(self, project_id: str, layout: ProjectLayout) -> int:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOME": str(layout.hub),
            HUB_CONFIG_ENV: str(layout.config),
            "CONFIGPROXY_AUTH_TOKEN": layout.secret("proxy_auth_token"),
            "JUPYTERHUB_CRYPT_KEY": layout.secret("crypt_key"),
            WORKSPACE_MARKER_ENV: str(layout.root),
        }
        with open(layout.log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG_FILE)],
                cwd=layout.hub, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._children[project_id] = proc
        return proc.pid

    def _wait_healthy(self, project_id: str, layout: ProjectLayout, current: HubState) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._healthy(current):
                return
            if current.pid is None or not processes.alive(current.pid):
                raise RetryableError(f"hub of {project_id} exited: {_tail(layout.log)}")
            time.sleep(0.1)
        self._stop_hub(project_id, current)
        raise RetryableError(f"hub of {project_id} not healthy after {self.start_timeout} s: "
                             f"{_tail(layout.log)}")

    @staticmethod
    def _healthy(current: HubState) -> bool:
        try:
            r = httpx.get(current.url + "hub/health", timeout=HEALTH_PROBE_TIMEOUT)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def _adopt(self, layout: ProjectLayout) -> tuple[HubState | None, HubState | None]:
        """(the hub running now, if any; the last recorded state, for its ports).

        A hub left by an earlier process is adopted when its pid is alive and it answers its
        health check (after a grace period for a hub still starting); otherwise whatever is
        left of it is stopped and the stale state is dropped.
        """
        current = state.load(layout.state)
        if current is None or current.suspended or current.pid is None:
            return None, current
        if processes.alive(current.pid):
            deadline = time.monotonic() + self.start_timeout
            while processes.alive(current.pid) and time.monotonic() < deadline:
                if self._healthy(current):
                    return current, current
                time.sleep(0.2)
            processes.stop_group(current.pid)
        log.info("workspace %s: stale hub state (pid %s), cleaning up", layout.root.name,
                 current.pid)
        processes.stop_pids(processes.workspace_pids(layout.root))
        layout.state.unlink(missing_ok=True)
        return None, current

    def _stop_hub(self, project_id: str, current: HubState) -> None:
        if current.pid is not None:
            processes.stop_group(current.pid)
        child = self._children.pop(project_id, None)
        if child is not None:
            child.wait(timeout=10)

    def _stop_all_servers(self, layout: ProjectLayout, current: HubState) -> None:
        with self._api(layout, current) as api:
            for server in api.servers():
                api.stop_server(server.user, server.name)
            api.wait_stopped()

    def _unlock(self, spec: WorkspaceSpec, layout: ProjectLayout) -> None:
        """Mount the work areas and project folder decrypted, if this workspace has them
        encrypted or is new and can (before any process of it uses them)."""
        folders = encryption.EncryptedFolders(layout.root)
        if not folders.initialised():
            if not (spec.work_area_key and self.encrypts_work_areas()):
                return
            if not folders.fresh():
                log.warning("workspace %s was created with plaintext work areas; they stay "
                            "so (deleted, not crypto-shredded, when the permit ends)",
                            spec.project_id)
                return
        elif not spec.work_area_key:
            raise TerminalError(f"workspace {spec.project_id}: its work areas are encrypted "
                                "and the spec holds no key to open them")
        folders.open(spec.work_area_key, {WORKSPACE_MARKER_ENV: str(layout.root)}, layout.log)

    @staticmethod
    def _lock(layout: ProjectLayout) -> None:
        """Stop every process of the workspace, unmount its decrypted folders (the
        gocryptfs processes, marked too, are stopped last), and clear dead mounts."""
        folders = encryption.EncryptedFolders(layout.root)
        daemons = {pid for pid in processes.workspace_pids(layout.root)
                   if _command(pid) == "gocryptfs"}
        processes.stop_pids(processes.workspace_pids(layout.root) - daemons)
        folders.close()
        processes.stop_pids(processes.workspace_pids(layout.root))
        folders.close()  # a mount whose gocryptfs was stopped before unmounting

    def _stop_departed_users(self, layout: ProjectLayout, current: HubState,
                             users: set[str]) -> None:
        with self._api(layout, current) as api:
            departed = [s for s in api.servers() if s.user not in users]
            for server in departed:
                api.stop_server(server.user, server.name)
            api.wait_stopped(users={s.user for s in departed})
