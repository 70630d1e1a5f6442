"""Provisioning: a permit becoming active → the researcher's JupyterLab answering, against a
bare JupyterHub start and spawn on the same machine (the baseline, measured in the same run).

    python -m benchmarks.provisioning [--runs 3]

spe: the demo data (2,000 + 40,000 rows) is loaded first; the clock starts when the permit
is recorded, then one reconciler pass (extract prepared, encrypted, stored, decrypted into the
workspace; hub client registered; hub started with the local runtime), then the researcher's
server is spawned through the hub API; it stops when ``/user/alice/api`` answers through the
workspace's proxy. Baseline: the same JupyterHub, started with a minimal configuration
(dummy authenticator, simple local spawner, the same configurable-http-proxy and JupyterLab
server), the same spawn and the same check. Runs alternate; medians are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from controllers.controller import build
from controllers.runtimes.local import LocalRuntime, processes
from spe import migrations
from spe.db import make_engine, session_scope
from spe.demo import DATASETS, PERMITTED, load_demo
from spe.domain import permit_lifecycle
from spe.domain.permits import PermitCreate, PermittedDataset
from spe.domain.principal import Principal
from spe.domain.projects import project_of
from spe.domain.roles import Role
from spe.errors import RetryableError
from spe.settings import Settings

TIMEOUT = 120.0
SLOW_SPAWN = """JupyterHub 6.1.1 answers a spawn request that takes longer than its
slow_spawn_timeout (10 s, under load) with 500 (InvalidStateError in spawn_single_user)
while the spawn goes on; both sides then simply wait for the server to answer."""
TARGET = 1.3
PM = Principal(user_id=None, subject="pm", roles=frozenset({Role.permit_manager}),
               via="system")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answering(url: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not answering after {TIMEOUT} s")


def spe_run(root: Path, run: int) -> float:
    settings = Settings(data_dir=root / f"spe-{run}", reconcile_interval_seconds=1)
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{settings.data_dir / 'spe.db'}")
    migrations.upgrade(engine)
    reconciler = build(settings, engine).reconciler
    demo = load_demo(engine, reconciler.data_plane.store)  # users, catalogue, sources
    with session_scope(engine) as session:  # only the measured permit gets a workspace
        permit_lifecycle.suspend_permit(session, demo.permit_reference, "benchmark", PM)
    runtime: LocalRuntime = reconciler.runtime
    try:
        now = datetime.now(UTC)
        started = time.perf_counter()
        with session_scope(engine) as session:
            permit = permit_lifecycle.create_permit(session, PermitCreate(
                reference=f"BENCH-{run}", issuer="bench", purpose="benchmark",
                project_title="bench", principal_investigator="alice", members=["alice"],
                datasets=[PermittedDataset(dataset=DATASETS[t], variables=v)
                          for t, v in PERMITTED.items()],
                valid_from=now - timedelta(seconds=1), valid_until=now + timedelta(days=1)),
                PM)
            project_id = project_of(session, permit.id).id
        reconciler.run_once()
        url = runtime.observe(project_id).url
        # a spawn slower than the hub's slow_spawn_timeout: see SLOW_SPAWN
        with runtime.hub_api(project_id) as api, contextlib.suppress(RetryableError):
            api.start_server("alice")
        wait_answering(f"{url}user/alice/api")
        return time.perf_counter() - started
    finally:
        for project_id in runtime.projects():
            runtime.delete(project_id)
        engine.dispose()


BARE_CONFIG = """
c.JupyterHub.bind_url = "http://127.0.0.1:{public}/"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub}"
c.JupyterHub.db_url = "sqlite:///{root}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{root}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {{"alice"}}
c.JupyterHub.spawner_class = "simple"
c.Spawner.notebook_dir = "{root}/home"
c.Spawner.default_url = "/lab"
c.Spawner.cmd = ["{python}", "-m", "jupyterhub.singleuser"]
c.Spawner.args = {args}
c.JupyterHub.services = [{{"name": "bench", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "bench", "scopes": ["admin:servers", "list:users"],
                            "services": ["bench"]}}]
c.ConfigurableHTTPProxy.command = ["{proxy}"]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
"""


def bare_run(root: Path, run: int) -> float:
    """The same JupyterHub, no spe: start it, spawn, wait for the server to answer."""
    home = root / f"bare-{run}"
    (home / "home").mkdir(parents=True)
    public, hub, proxy_api = free_port(), free_port(), free_port()
    token = os.urandom(16).hex()
    proxy = Path(sys.executable).with_name("configurable-http-proxy")
    (home / "jupyterhub_config.py").write_text(textwrap.dedent(BARE_CONFIG.format(
        public=public, hub=hub, proxy_api=proxy_api, root=home, python=sys.executable,
        token=token, proxy=proxy,
        args=["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [])))
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(home),
           "CONFIGPROXY_AUTH_TOKEN": os.urandom(16).hex()}
    started = time.perf_counter()
    with open(home / "hub.log", "wb") as log:
        hub_process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(home / "jupyterhub_config.py")],
            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_answering(f"http://127.0.0.1:{public}/hub/health")
        spawned = httpx.post(f"http://127.0.0.1:{hub}/hub/api/users/alice/server",
                             headers={"Authorization": f"token {token}"}, timeout=30)
        if spawned.status_code >= 400 and spawned.status_code != 500:  # 500: SLOW_SPAWN
            spawned.raise_for_status()
        wait_answering(f"http://127.0.0.1:{public}/user/alice/api")
        return time.perf_counter() - started
    finally:
        httpx.delete(f"http://127.0.0.1:{hub}/hub/api/users/alice/server",
                     headers={"Authorization": f"token {token}"}, timeout=30)
        os.killpg(hub_process.pid, signal.SIGTERM)
        hub_process.wait(timeout=30)
        processes.stop_pids(_pids_with_cwd_under(home))


def _pids_with_cwd_under(root: Path) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(Path(os.readlink(entry / "cwd"))).startswith(str(root)):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spe_times, bare_times = [], []
    with tempfile.TemporaryDirectory(prefix="spe-bench-") as tmp:
        root = Path(tmp)
        for run in range(args.runs):
            bare_times.append(bare_run(root, run))
            spe_times.append(spe_run(root, run))
            print(f"run {run + 1}: spe {spe_times[-1]:.2f} s, bare JupyterHub "
                  f"{bare_times[-1]:.2f} s", flush=True)
    spe, bare = statistics.median(spe_times), statistics.median(bare_times)
    ratio = spe / bare
    print(f"\npermit active → JupyterLab answering (median of {args.runs}):")
    print(f"  spe (reconciler + local runtime + spawn)  {spe:6.2f} s")
    print(f"  bare JupyterHub start + spawn (baseline)  {bare:6.2f} s")
    print(f"  ratio {ratio:.2f} (target ≤ {TARGET}) {'✔' if ratio <= TARGET else '✘'}")


if __name__ == "__main__":
    main()
