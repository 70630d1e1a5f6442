"""Smoke runs of the three images built by scripts/images.sh, with podman, on 127.0.0.1.

    python -m tests.images.smoke --version 0.1.0

* control plane (``localhost/spe``): no compiler, not root, the compiled audit verifier
  importable; ``spe db upgrade`` as the migration Job runs it, then ``spe serve`` answers
  ``/readyz`` against the suite's real PostgreSQL and S3 (Ceph RGW) servers, with the root
  filesystem read-only and the key files mounted read-only as the chart mounts them;
* workspace (``localhost/spe-workspace``): its init step (``fetch_extract.py``) fetches a
  real extract through the grant endpoint of that control-plane container and the files
  decrypt to the manifest's tables; JupyterLab starts and answers ``/api/status``;
* hub (``localhost/spe-hub``): starts with the ConfigMap, Secret, command and environment
  the Kubernetes runtime renders (controllers/runtimes/kubernetes/render.py) and answers
  ``/hub/health``.

Every container runs with a read-only root filesystem, no capabilities and no privilege
escalation, and is removed at the end, as are the servers.
The hub and workspace run in their own network namespace (slirp4netns, so no NAT rules are
left behind); the control plane shares the host's, bound to 127.0.0.1 on a free port.
Uses the podman configuration of the environment (CONTAINERS_CONF, set by images.sh).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pyarrow.parquet as pq

SLIRP = "slirp4netns:allow_host_loopback=true"
HOST_FROM_SLIRP = "10.0.2.2"  # the host's loopback, seen from a slirp4netns namespace
RESTRICTED = ("--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")
"""As the chart and the runtime run every container: read-only root, no capabilities."""
CONTROL_PLANE_UID = 10001
WORKSPACE_UID, WORKSPACE_GID = 1000, 100


def log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args: str, timeout: float = 300, check: bool = True) -> str:
    result = subprocess.run(["podman", *args], capture_output=True, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"podman {' '.join(args[:3])}… failed ({result.returncode}):\n"
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def run_once(image: str, entrypoint: str, *command: str) -> str:
    """Run ``entrypoint command…`` in a one-off container without network; its output."""
    return podman("run", "--rm", *RESTRICTED, "--network", "none", "--entrypoint",
                  entrypoint, image, *command)


@contextmanager
def container(image: str, *args: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """A detached container, always removed at the end (its logs shown if the block fails)."""
    name = f"spe-smoke-{secrets.token_hex(4)}"
    try:
        podman("run", "-d", "--name", name, *RESTRICTED, *args, image, *command)
        yield name
    except BaseException:
        logs = subprocess.run(["podman", "logs", "--tail", "60", name], capture_output=True,
                              text=True, timeout=60, check=False)
        print(logs.stdout + logs.stderr, file=sys.stderr)
        raise
    finally:
        podman("rm", "-f", "-t", "5", name, check=False)


def wait_http(url: str, name: str, want: int = 200, timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        state = podman("inspect", "--format", "{{.State.Running}}", name, check=False).strip()
        if state != "true":
            raise SystemExit(f"{name} stopped before {url} answered")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == want:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(1)
    raise SystemExit(f"{url} did not answer {want} within {timeout:.0f} s (last: {last})")


def empty_dir(path: str) -> list[str]:
    """A writable scratch directory owned by the container's user, as an emptyDir is."""
    return ["--mount", f"type=tmpfs,dst={path},chown"]


def owned_copy(source: Path, target: Path, uid: int, gid: int) -> Path:
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        os.chown(path, uid, gid)
    return target


# --- control plane -------------------------------------------------------------------------

def check_control_plane_image(image: str) -> None:
    found = run_once(image, "sh", "-c", "command -v gcc cc c99 clang make pip || true; id -u")
    lines = found.split()
    assert lines == [str(CONTROL_PLANE_UID)], f"compiler, pip or root in {image}: {lines}"
    run_once(image, "python3", "-c", "import spe.audit._native")
    log(f"{image}: non-root, no compiler or pip, compiled audit verifier present")


def control_plane_env(pg, database: str, s3, bucket: str, port: int, public_url: str,
                      ) -> dict[str, str]:
    """What the chart's ConfigMap and Secrets give the API (helm/spe/templates)."""
    return {
        "SPE_ENVIRONMENT": "production",
        "SPE_SECURE_COOKIES": "true",
        "SPE_PUBLIC_URL": public_url,
        "SPE_HOST": "127.0.0.1",
        "SPE_PORT": str(port),
        "SPE_DATA_DIR": "/var/lib/spe",
        "SPE_KEYS_DIR": "/var/run/spe/keys",
        "SPE_KEY_STORE_PATH": "/var/lib/spe/data-keys",
        "SPE_DATABASE_URL": pg.url(database, user="spe_app"),
        "SPE_DATABASE_ADMIN_URL": pg.url(database),
        "SPE_DATABASE_APP_ROLE": "spe_app",
        "SPE_STORAGE_BACKEND": "s3",
        "SPE_STORAGE_ENDPOINT": s3.endpoint,
        "SPE_STORAGE_BUCKET": bucket,
        "SPE_STORAGE_REGION": s3.region,
        "SPE_STORAGE_SECURE": "false",
        "SPE_STORAGE_ACCESS_KEY": s3.access_key,
        "SPE_STORAGE_SECRET_KEY": s3.secret_key,
        "SPE_OIDC_ISSUER": "https://idp.invalid/realms/spe",
        "SPE_OIDC_CLIENT_ID": "spe",
        "SPE_OIDC_CLIENT_SECRET": "smoke-client-secret",
        "SPE_OIDC_MFA_AMR_METHODS": '["mfa", "otp", "hwk"]',
    }


def env_args(env: dict[str, str]) -> list[str]:
    return [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]


def prepare_extract(env: dict[str, str], keys: Path, data_keys: Path):
    """A real extract of the demo project, made on the host against the same database,
    bucket and keys the container uses; returns the grant and the manifest."""
    from sqlmodel import Session

    from spe.dataplane import ProjectDataPlane
    from spe.dataplane.config import object_store
    from spe.db import make_engine
    from spe.demo import load_demo
    from spe.domain.permits import Permit
    from spe.domain.projects import Project
    from spe.settings import Settings

    settings = Settings(_env_file=None, environment="development",
                        database_url=env["SPE_DATABASE_ADMIN_URL"],
                        public_url=env["SPE_PUBLIC_URL"], keys_dir=keys,
                        key_store_path=data_keys, data_dir=keys.parent / "host-data",
                        storage_backend="s3", storage_endpoint=env["SPE_STORAGE_ENDPOINT"],
                        storage_bucket=env["SPE_STORAGE_BUCKET"],
                        storage_region=env["SPE_STORAGE_REGION"], storage_secure=False,
                        storage_access_key=env["SPE_STORAGE_ACCESS_KEY"],
                        storage_secret_key=env["SPE_STORAGE_SECRET_KEY"])
    engine = make_engine(settings.database_url)
    try:
        demo = load_demo(engine, object_store(settings))
        plane = ProjectDataPlane(engine, settings,
                                 extract_dir=lambda project: keys.parent / "mnt" / project)
        with Session(engine) as s:
            project = s.get(Project, demo.project_id)
            permit = s.get(Permit, project.permit_id)
        ref = plane.prepare(project, permit)
        manifest = plane.manifest(demo.project_id, ref.manifest_key.split("/")[-2],
                                  permit_reference=permit.reference,
                                  key_id=plane.data_key(demo.project_id).key_id)
    finally:
        engine.dispose()
    return ref, manifest


def smoke_control_plane_and_workspace(stack: ExitStack, version: str, work: Path) -> None:
    from spe.dataplane.config import create_key_files
    from tests.servers.ceph import running_ceph
    from testsupport.postgres import running_postgres

    image = f"localhost/spe:{version}"
    check_control_plane_image(image)
    pg = stack.enter_context(running_postgres())
    s3 = stack.enter_context(running_ceph())
    database = pg.create_database("smoke")
    pg.admin("CREATE ROLE spe_app LOGIN")
    bucket = s3.new_store().bucket
    port = free_port()
    env = control_plane_env(pg, database, s3, bucket, port,
                            public_url=f"http://{HOST_FROM_SLIRP}:{port}")

    host_keys = work / "host-keys"
    create_key_files(host_keys)
    keys = owned_copy(host_keys, work / "keys", CONTROL_PLANE_UID, CONTROL_PLANE_UID)
    data_keys = work / "data-keys"
    data_keys.mkdir()
    os.chown(data_keys, CONTROL_PLANE_UID, CONTROL_PLANE_UID)
    mounts = ["-v", f"{keys}:/var/run/spe/keys:ro",
              "-v", f"{data_keys}:/var/lib/spe/data-keys",
              *empty_dir("/tmp"), *empty_dir("/var/lib/spe")]

    out = podman("run", "--rm", *RESTRICTED, "--network", "host", *env_args(env), *mounts,
                 image, "db", "upgrade")
    assert "database at head" in out, out
    log(f"{image}: spe db upgrade: {out.strip()}")

    name = stack.enter_context(container(image, "--network", "host", *env_args(env),
                                         *mounts, command=("serve",)))
    ready = wait_http(f"http://127.0.0.1:{port}/readyz", name)
    assert ready.json() == {"status": "ready"}, ready.text
    log(f"{image}: /readyz answers {ready.json()} against PostgreSQL and Ceph RGW")

    smoke_workspace(stack, version, work, env, host_keys, data_keys)


# --- workspace -----------------------------------------------------------------------------

def smoke_workspace(stack: ExitStack, version: str, work: Path, env: dict[str, str],
                    host_keys: Path, data_keys: Path) -> None:
    image = f"localhost/spe-workspace:{version}"
    ref, manifest = prepare_extract(env, host_keys, data_keys)
    for path in [data_keys, *data_keys.rglob("*")]:  # the project's wrapped data key
        os.chown(path, CONTROL_PLANE_UID, CONTROL_PLANE_UID)
    data = work / "workspace-data"
    data.mkdir()
    os.chown(data, WORKSPACE_UID, WORKSPACE_GID)
    out = podman("run", "--rm", *RESTRICTED, "--network", SLIRP,
                 "--user", f"{WORKSPACE_UID}:{WORKSPACE_GID}", *empty_dir("/tmp"),
                 "-v", f"{data}:/home/jovyan/data",
                 "-e", f"SPE_GRANT_URL={ref.grant_url}", "-e", f"SPE_GRANT_TOKEN={ref.grant_token}",
                 image, "python3", "/usr/local/lib/spe/fetch_extract.py", "/home/jovyan/data")
    files = manifest["files"]
    assert files, manifest
    for entry in files:
        table = pq.read_table(data / f"{entry['name']}.parquet")
        assert table.num_rows == entry["rows"], entry["name"]
        assert table.column_names == [c["name"] for c in entry["columns"]]
    log(f"{image}: init step fetched and decrypted {len(files)} extract file(s) through "
        f"the grant endpoint ({out.strip()[-120:]})")

    port, token = free_port(), secrets.token_hex(16)
    name = stack.enter_context(container(
        image, "--network", SLIRP, "-p", f"127.0.0.1:{port}:8888",
        "--user", f"{WORKSPACE_UID}:{WORKSPACE_GID}", *empty_dir("/tmp"),
        *empty_dir("/home/jovyan"),
        command=("jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser",
                 f"--IdentityProvider.token={token}")))
    status = wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", name)
    lab = httpx.get(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10)
    assert lab.status_code == 200 and "JupyterLab" in lab.text, lab.status_code
    # spe's lab extension is installed and replaces JupyterHub's "Server unavailable" dialog
    config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', lab.text,
                                  re.DOTALL)[1])
    assert "spe-workspace" in [e["name"] for e in config["federated_extensions"]], \
        "spe's lab extension is not installed"
    assert "@jupyterlab/hub-extension:connectionlost" in config["disabledExtensions"]
    extension = httpx.get(f"http://127.0.0.1:{port}/lab/extensions/spe-workspace/static/"
                          f"remoteEntry.js?token={token}", timeout=10)
    assert extension.status_code == 200 and "connectionFailure" in extension.text
    log(f"{image}: JupyterLab answers /api/status ({status.json().get('kernels')} kernels)"
        " and /lab, with spe's lab extension")


# --- hub -----------------------------------------------------------------------------------

def smoke_hub(stack: ExitStack, version: str, work: Path) -> None:
    from controllers.runtimes.kubernetes.render import render
    from controllers.runtimes.kubernetes.settings import ClusterSettings
    from tests.fixtures.kubernetes import make_spec

    image = f"localhost/spe-hub:{version}"
    spec = make_spec()
    spec = dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, hub_image=image))
    cluster = ClusterSettings(api_server_cidrs=("10.96.0.1/32",), ingress_domain="ws.example.org",
                              plaintext_work_areas=True)  # the hub is under test, not storage
    objects = {(o["kind"], o["metadata"]["name"]): o for o in render(spec, cluster)}
    deployment = objects[("Deployment", "hub")]
    pod = deployment["spec"]["template"]["spec"]
    [hub] = pod["containers"]
    assert hub["image"] == image
    secret = objects[("Secret", "hub")]["stringData"]

    # The volumes as the kubelet would project them from the rendered objects.
    volumes = {}
    for volume in pod["volumes"]:
        path = work / "hub" / volume["name"]
        path.mkdir(parents=True)
        if "configMap" in volume:
            for key, value in objects[("ConfigMap", volume["configMap"]["name"])]["data"].items():
                (path / key).write_text(value)
        elif "secret" in volume:
            for item in volume["secret"]["items"]:
                (path / item["path"]).write_text(secret[item["key"]])
        for p in [path, *path.iterdir()]:
            os.chown(p, WORKSPACE_UID, WORKSPACE_GID)
        volumes[volume["name"]] = path
    mounts = []
    for mount in hub["volumeMounts"]:
        if "emptyDir" in next(v for v in pod["volumes"] if v["name"] == mount["name"]):
            mounts += empty_dir(mount["mountPath"])
        else:
            mode = ":ro" if mount.get("readOnly") else ""
            mounts += ["-v", f"{volumes[mount['name']]}:{mount['mountPath']}{mode}"]
    env = {}
    for entry in hub["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            env[entry["name"]] = secret[entry["valueFrom"]["secretKeyRef"]["key"]]
    context = hub["securityContext"]
    port = free_port()
    hub_api = next(p["containerPort"] for p in hub["ports"] if p["name"] == "hub-api")
    name = stack.enter_context(container(
        image, "--network", SLIRP, "-p", f"127.0.0.1:{port}:{hub_api}",
        "--user", f"{context['runAsUser']}:{context['runAsGroup']}",
        "--workdir", hub["workingDir"], *env_args(env), *mounts,
        "--entrypoint", hub["command"][0], command=tuple(hub["command"][1:])))
    health = wait_http(f"http://127.0.0.1:{port}/hub/health", name)
    log(f"{image}: started with the rendered configuration; /hub/health answers "
        f"{health.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="spe-smoke-"))
    try:
        with ExitStack() as stack:
            smoke_hub(stack, args.version, work)
            smoke_control_plane_and_workspace(stack, args.version, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"every image passed in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
