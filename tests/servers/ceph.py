"""A real S3 server for the test run: a throwaway single-node Ceph cluster with its RADOS Gateway.

Debian's ``ceph-mon``, ``ceph-osd`` (in-memory ``memstore``) and ``radosgw`` run in a temporary
directory on 127.0.0.1 with free ports, without cephx (the cluster is private to the run). RGW
is real S3: SigV4 signatures, presigned URLs with server-enforced expiry, versioning, multipart.

Started once per run, only when a test asks for ``s3_server`` (about 2 s), and always
stopped: every daemon runs in the foreground in its own process group, is killed at teardown,
at interpreter exit, and by the kernel if the test process itself dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from spe.storage.s3 import S3ObjectStore

REGION = "us-east-1"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # host:port, as the minio SDK takes it
    access_key: str
    secret_key: str
    region: str = REGION
    secure: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def new_store(self, versioning: bool = False, **options) -> S3ObjectStore:
        """An ``S3ObjectStore`` on a fresh, empty bucket of this server."""
        store = S3ObjectStore(self.endpoint, self.access_key, self.secret_key,
                              f"spe-test-{uuid.uuid4().hex[:16]}", region=self.region,
                              secure=self.secure, **options)
        store.ensure_bucket(versioning=versioning)
        return store


class CephStartError(RuntimeError):
    """A daemon did not come up; the message carries the tail of its log."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if the test process dies."""
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_CONF = """\
[global]
fsid = {fsid}
mon_host = v2:127.0.0.1:{mon_port}
mon_initial_members = a
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
# without cephx there is no "secure" messenger mode: every connection must offer crc
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
ms_bind_ipv6 = false
run_dir = {root}/run
admin_socket = {root}/run/$name.asok
pid_file = {root}/run/$name.pid
log_file = {root}/log/$name.log
mon_data = {root}/mon
mon_data_avail_warn = 1
mon_data_avail_crit = 0
mon_allow_pool_size_one = true
# the default 1 s between map updates makes RGW's pool creation take ~10 s instead of ~1 s
paxos_propose_interval = 0.1
mon_warn_on_pool_no_redundancy = false
osd_data = {root}/osd
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 1
osd_pool_default_pgp_num = 1
osd_pool_default_pg_autoscale_mode = off

[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_data = {root}/rgw
"""


class _Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "ceph.conf"
        self.procs: dict[str, subprocess.Popen] = {}

    def run(self, *args: str, timeout: float = 60) -> str:
        try:
            done = subprocess.run([*args, "-c", str(self.conf)], capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise CephStartError(f"{args[0]} timed out after {timeout}s{self.logs()}") from exc
        if done.returncode != 0:
            raise CephStartError(f"{' '.join(args)} failed ({done.returncode}): "
                                 f"{done.stderr.strip()}{self.logs()}")
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        out = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 - daemon's lifetime
        self.procs[name] = subprocess.Popen([*args, "-c", str(self.conf), "-f"], stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=_die_with_parent)
        out.close()

    def wait(self, what: str, ready: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise CephStartError(f"{name} exited ({proc.returncode}) while waiting "
                                         f"for {what}{self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise CephStartError(f"timed out after {timeout}s waiting for {what}{self.logs()}")

    def logs(self, lines: int = 15) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            if tail:
                parts.append(f"\n--- {path.name} ---\n" + "\n".join(tail))
        return "".join(parts)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait(timeout=30)
        self.procs.clear()


def _osd_up(cluster: _Cluster) -> bool:
    stat = json.loads(cluster.run("ceph", "osd", "stat", "-f", "json", timeout=20))
    return stat.get("num_up_osds", 0) == 1


def _http_up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def running_ceph() -> Iterator[S3Server]:
    root = Path(tempfile.mkdtemp(prefix="spe-ceph-"))
    cluster = _Cluster(root)
    atexit.register(cluster.stop)
    try:
        for sub in ("run", "log", "mon", "osd", "rgw"):
            (root / sub).mkdir()
        mon_port, rgw_port = _free_port(), _free_port()
        fsid = str(uuid.uuid4())
        cluster.conf.write_text(_CONF.format(fsid=fsid, mon_port=mon_port, rgw_port=rgw_port,
                                             root=root))
        monmap = str(root / "monmap")
        cluster.run("monmaptool", "--create", "--fsid", fsid,
                    "--addv", "a", f"[v2:127.0.0.1:{mon_port}]", monmap)
        cluster.run("ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap)
        cluster.start("mon", "ceph-mon", "-i", "a")
        osd_id = cluster.run("ceph", "--connect-timeout", "30", "osd", "create").strip()
        cluster.run("ceph-osd", "--mkfs", "-i", osd_id)
        cluster.start("osd", "ceph-osd", "-i", osd_id)
        cluster.wait("the OSD", lambda: _osd_up(cluster))
        cluster.start("rgw", "radosgw", "-n", "client.rgw")
        url = f"http://127.0.0.1:{rgw_port}/"
        cluster.wait("the RADOS Gateway", lambda: _http_up(url), timeout=90)
        access_key, secret_key = secrets.token_hex(10).upper(), secrets.token_urlsafe(30)
        cluster.run("radosgw-admin", "user", "create", "--uid", "spe", "--display-name", "spe",
                    "--access-key", access_key, "--secret-key", secret_key)
        yield S3Server(f"127.0.0.1:{rgw_port}", access_key, secret_key)
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_ceph() as server:
        yield server


@pytest.fixture
def s3_store(s3_server: S3Server) -> S3ObjectStore:
    """A store on its own empty bucket, so tests never see each other's objects."""
    return s3_server.new_store()
