"""The checkpoint signer (spe/audit/signer.py, ``spe audit signer``): the one process holding
the audit signing key. The API, built from the same settings with the key file on the same
disk, verifies and asks, and never reads it."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from spe import migrations
from spe.audit import Actor, record
from spe.audit.models import AuditCheckpoint
from spe.audit.request import ask
from spe.audit.signer import CheckpointSigner
from spe.crypto.signing import SigningKey, key_id, load_public_key
from spe.db import make_engine, session_scope
from spe.domain.roles import Role
from spe.settings import Settings
from spe.web import create_app
from testsupport.factories import make_user

ACTOR = Actor.system("test")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def checkpoints(engine) -> list[int]:
    with Session(engine) as s:
        return [c.tree_size for c in s.exec(select(AuditCheckpoint)
                                            .order_by(AuditCheckpoint.tree_size))]


def test_the_signer_signs_on_schedule_and_when_asked(engine, settings):
    signer = CheckpointSigner.from_settings(settings, engine)
    with session_scope(engine) as s:
        record(s, action="thing.done", actor=ACTOR)
    first = signer.tick()  # no checkpoint yet: the first one is due at once
    assert first is not None and first.key_id == signer.key.key_id
    with session_scope(engine) as s:
        record(s, action="thing.done", actor=ACTOR)
    assert signer.tick() is None  # the log grew, but the interval has not passed
    with session_scope(engine) as s:  # asked for: signed at the next turn, request included
        request = ask(s, ACTOR, "checkpoint")
    asked = signer.tick()
    assert asked is not None and asked.tree_size == request.seq + 1
    with session_scope(engine) as s:
        record(s, action="thing.done", actor=ACTOR)
    signer.interval = timedelta(seconds=1)
    time.sleep(1.1)
    assert signer.tick().tree_size == asked.tree_size + 1  # due by the interval
    assert signer.tick() is None  # nothing new


def test_without_a_signer_the_api_answers_503_and_the_request_is_kept(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(_env_file=None, data_dir=tmp_path, audit_signer_wait_seconds=0.5)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        headers = bearer(make_user(engine, Role.auditor)[1])
        none_yet = client.get("/api/v1/audit/public-key")
        assert none_yet.status_code == 503, none_yet.text
        assert none_yet.json()["error"]["code"] == "audit.signer_unavailable"
        CheckpointSigner.from_settings(settings, engine)  # publishes the key; never turns
        refused = client.post("/api/v1/audit/checkpoints", headers=headers)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "audit.signer_unavailable"
        asked = client.get("/api/v1/audit/events", headers=headers,
                           params={"action": "audit.checkpoint.request"}).json()["items"]
        assert [e["outcome"] for e in asked] == ["success"]
    assert checkpoints(engine) == []
    engine.dispose()


@pytest.fixture
def signer_process(tmp_path):
    """``spe audit signer`` in a process of its own, on the SQLite database of
    ``tmp_path``, polling every 0.1 s; stopped with SIGTERM (it must exit cleanly)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPE_")}
    env |= {"SPE_DATA_DIR": str(tmp_path), "SPE_AUDIT_SIGNER_POLL_SECONDS": "0.1"}
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    process = subprocess.Popen([sys.executable, "-m", "spe", "audit", "signer"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    public = tmp_path / "keys" / "audit-ed25519.pub.pem"
    deadline = time.monotonic() + 60
    while not public.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the signer did not publish its public key"
        time.sleep(0.1)
    yield engine, public
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0, process.stdout.read()
    engine.dispose()


def test_the_apis_app_never_reads_the_signing_key(signer_process, tmp_path):
    """The API's app, built from settings whose signing key file exists on its disk (as in
    the embedded platform), serves every audit route that needs a checkpoint or the key
    (public key, checkpoint, export, the console's form) with checkpoints signed by the
    separate signer, and neither opens the key file nor holds the key."""
    engine, public = signer_process
    settings = Settings(_env_file=None, data_dir=tmp_path)
    key_file = settings.resolved_audit_signing_key_path
    assert key_file.is_file()  # there for the taking
    signer_id = key_id(load_public_key(public.read_bytes()))
    opened = []

    def watch(event, args):
        if event == "open" and args and str(args[0]) == str(key_file):
            opened.append(args)

    sys.addaudithook(watch)  # cannot be removed: it only records this file's opens
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = bearer(make_user(engine, Role.auditor)[1])
        published = client.get("/api/v1/audit/public-key").json()
        assert published["key_id"] == signer_id
        made = client.post("/api/v1/audit/checkpoints", headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["key_id"] == signer_id
        exported = client.get("/api/v1/audit/export", headers=headers)
        assert exported.status_code == 200, exported.text
        assert signer_id in exported.text.splitlines()[0]
        form = client.post("/console/audit/checkpoints", headers=headers,
                           follow_redirects=False)
        assert form.status_code == 303, form.text
    assert len(checkpoints(engine)) >= 3
    assert opened == []
    held = [o for o in gc.get_objects() if isinstance(o, SigningKey)]
    assert signer_id not in {k.key_id for k in held}
    key_file.read_bytes()
    assert opened  # the watch does see the file being read


WATCHED_UP = """
import os, sys
key, sink = os.environ["WATCH_KEY_FILE"], open(os.environ["WATCH_LOG"], "a")
def watch(event, args):
    if event == "open" and args and not isinstance(args[0], int) \\
            and os.path.abspath(os.fsdecode(args[0])) == key:
        sink.write(f"{os.getpid()} opened {key}\\n")
        sink.flush()
sys.addaudithook(watch)
from spe.cli.main import app
app()
"""
"""``spe up``, recording into WATCH_LOG every time its process opens WATCH_KEY_FILE (an audit
hook: it is not inherited by the processes it starts)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def ended(pid: int) -> bool:
    """Gone, or a zombie (ended, not reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_spe_up_runs_the_signer_as_its_own_process_and_never_opens_the_key(tmp_path):
    """``spe up``'s one process serves the audit routes with checkpoints signed by its child
    ``spe audit signer``, which alone opens the signing key; SIGTERM stops both."""
    data = tmp_path / "data"
    key_file = data / "keys" / "audit-ed25519.pem"
    log = tmp_path / "opened.log"
    log.touch()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPE_")}
    env |= {"SPE_DATA_DIR": str(data), "SPE_AUDIT_SIGNER_POLL_SECONDS": "0.1",
            "WATCH_KEY_FILE": str(key_file), "WATCH_LOG": str(log)}
    with (tmp_path / "up.log").open("wb") as output:
        up = subprocess.Popen([sys.executable, "-c", WATCHED_UP, "up", "--no-demo", "--port",
                               str(port)], env=env, cwd=tmp_path, stdout=output,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 180, "spe up did not become ready")
        [signer] = [c for c in children(up.pid) if b"audit\0signer" in
                    Path(f"/proc/{c}/cmdline").read_bytes()]
        assert Path(f"/proc/{signer}/cmdline").read_bytes().split(b"\0")[-3:-1] == \
            [b"--parent-pid", str(up.pid).encode()]
        engine = make_engine(f"sqlite:///{data / 'spe.db'}")
        headers = bearer(make_user(engine, Role.auditor)[1])
        made = httpx.post(f"{url}/api/v1/audit/checkpoints", headers=headers, timeout=60)
        assert made.status_code == 201, made.text
        engine.dispose()
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=90) == 0, (tmp_path / "up.log").read_text()
        wait_until(lambda: ended(signer), 30, "the signer outlived spe up")
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert key_file.is_file()
    assert made.json()["key_id"] == SigningKey.load_or_create(key_file).key_id
    assert log.read_text() == ""  # spe up's own process never opened it
    assert "audit checkpoint signer running" in (tmp_path / "up.log").read_text()


def test_the_signer_of_a_parent_killed_outright_stops(tmp_path):
    """``spe audit signer --parent-pid`` (how spe up runs it) stops, gracefully, when the
    process that started it is killed with SIGKILL: no signer left holding the key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPE_")}
    env |= {"SPE_DATA_DIR": str(tmp_path), "SPE_AUDIT_SIGNER_POLL_SECONDS": "0.1"}
    migrations.upgrade(make_engine(f"sqlite:///{tmp_path / 'spe.db'}"))
    parent = subprocess.Popen(
        [sys.executable, "-c", "import os, subprocess, sys, time; subprocess.Popen([sys."
         "executable, '-m', 'spe', 'audit', 'signer', '--parent-pid', str(os.getpid())]); "
         "time.sleep(600)"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        wait_until(lambda: children(parent.pid), 30, "no signer started")
        [signer] = children(parent.pid)
        wait_until(lambda: (tmp_path / "keys" / "audit-ed25519.pub.pem").exists(), 60,
                   "the signer did not start")
        parent.kill()
        parent.wait()
        wait_until(lambda: ended(signer), 30, "the signer outlived its parent")
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # whatever is left of its group
    assert "Traceback" not in parent.stderr.read()  # stopped by its SIGTERM handler


def test_spe_up_does_not_start_without_its_signer_nor_run_on_once_it_stops(tmp_path,
                                                                           monkeypatch):
    """A signer that cannot start (here: its key file is not a key) stops ``spe up`` before
    it serves, with the signer's reason; one that stops later stops ``spe up`` too."""
    from spe.server import SignerFailed, _watch_signer, start_signer

    for name in [n for n in os.environ if n.startswith("SPE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SPE_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    settings.resolved_audit_signing_key_path.parent.mkdir(parents=True)
    settings.resolved_audit_signing_key_path.write_text("not a key")
    with pytest.raises(SignerFailed, match="stopped at start"):
        start_signer(settings)

    class Server:
        should_exit = False

    stopped, server = subprocess.Popen([sys.executable, "-c", "pass"]), Server()
    stopped.wait()
    _watch_signer(stopped, server, threading.Event())
    assert server.should_exit is True
