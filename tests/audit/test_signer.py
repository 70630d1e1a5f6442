"""The checkpoint signer (spe/audit/signer.py, ``spe audit signer``): the one process holding
the audit signing key. The API, built from the same settings with the key file on the same
disk, verifies and asks, and never reads it."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

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
