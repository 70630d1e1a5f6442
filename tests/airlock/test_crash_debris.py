"""What a crash of the airlock leaves behind is kept out of the system's temporary folder and
swept, audited: staging folders at the API's start-up, orphan quarantine objects (older than
the grace period) at the reconciler's first pass and periodically; on local storage and on
the real S3 server (Ceph RGW)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from controllers.jobs import standard_jobs
from spe.airlock import janitor, staging
from spe.airlock.models import EgressRequest
from spe.audit import AuditEvent
from spe.db import make_engine
from spe.settings import Settings
from spe.storage.layout import quarantine_key
from spe.storage.local import LocalObjectStore
from spe.web import create_app
from tests.airlock.conftest import OK_CSV, submit
from tests.airlock.killed_upload import FILES

GRACE = 1.5  # seconds


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def wait_until(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


@pytest.fixture(params=["local", pytest.param("ceph", marks=pytest.mark.slow)])
def store_and_spec(request, tmp_path):
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects"), {"local": str(tmp_path / "objects")}
    server = request.getfixturevalue("s3_server")
    store = server.new_store()
    return store, {"endpoint": server.endpoint, "access_key": server.access_key,
                   "secret_key": server.secret_key, "bucket": store.bucket,
                   "region": server.region, "secure": server.secure}


def test_a_kill_9_during_an_upload_leaves_debris_only_where_it_is_swept(tmp_path,
                                                                       store_and_spec):
    store, spec = store_and_spec
    data = tmp_path / "data"
    data.mkdir()
    system_tmp = Path(tempfile.gettempdir())
    before = set(system_tmp.iterdir())
    child = subprocess.run(
        [sys.executable, "-m", "tests.airlock.killed_upload", str(data),
         json.dumps(spec)], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert child.returncode == -9, child.stderr[-3000:]
    project = json.loads(child.stdout.splitlines()[0])["project"]

    # the debris: the unreviewed files in spe's own 0700 staging folder, not in /tmp ...
    assert not [p for p in set(system_tmp.iterdir()) - before if "egress" in p.name]
    (folder,) = (data / "staging").iterdir()
    assert stat.S_IMODE((data / "staging").stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "counts.csv").read_bytes() == FILES[0][1]
    # ... and quarantine objects no request refers to
    hashes = {sha256(content) for _, content in FILES}
    assert {o.key for o in store.list(f"projects/{project}/quarantine/")} == \
        {quarantine_key(project, h) for h in hashes}
    engine = make_engine(f"sqlite:///{data / 'spe.db'}")
    with Session(engine) as session:
        assert session.exec(select(EgressRequest)).all() == []

    # restart: the API sweeps its staging folder at start-up (its owner process is dead)
    settings = Settings(data_dir=data, egress_cleanup_grace_seconds=GRACE)
    with TestClient(create_app(settings, engine)):
        wait_until(lambda: not list((data / "staging").iterdir()))
    (swept,) = wait_until(lambda: events(engine, "egress.staging.cleanup"))
    assert swept.details == {"folders": 1, "files": 2,
                             "bytes": sum(len(content) for _, content in FILES)}

    # the controller's sweep job, at its first run, removes the orphans once older than the
    # grace period, not an object written just now (an upload in flight)
    time.sleep(GRACE + 0.5)
    in_flight = b"region,count\neast,99\n"
    store.put_bytes(quarantine_key(project, sha256(in_flight)), in_flight)
    [sweep] = [job for job in standard_jobs(engine, settings, quarantine=store)
               if job.name == "egress quarantine sweep"]
    assert sweep.run_if_due()
    assert {o.key for o in store.list(f"projects/{project}/quarantine/")} == \
        {quarantine_key(project, sha256(in_flight))}
    (event,) = events(engine, "egress.quarantine.cleanup")
    assert event.details["objects"] == 2
    assert event.details["bytes"] == sum(len(content) for _, content in FILES)
    assert sorted(event.details["removed"]) == sorted(f"{project}/{h}" for h in hashes)
    assert "counts" not in json.dumps(event.details)  # counts and hashes, no file names
    assert not sweep.run_if_due()  # not due again before the interval: nothing more recorded
    assert len(events(engine, "egress.quarantine.cleanup")) == 1
    engine.dispose()


def test_the_quarantine_sweep_keeps_every_object_a_request_refers_to(client, engine, project,
                                                                     store):
    response = submit(client, project.id, project.researcher_token, [("counts.csv", OK_CSV)])
    assert response.status_code == 201, response.text
    orphan = b"region,count\nwest,77\n"
    store.put_bytes(quarantine_key(project.id, sha256(orphan)), orphan)
    time.sleep(GRACE + 0.5)
    swept = janitor.sweep_quarantine(engine, store, timedelta(seconds=GRACE))
    assert swept.hashes == [f"{project.id}/{sha256(orphan)}"]
    assert store.exists(quarantine_key(project.id, sha256(OK_CSV)))
    assert not store.exists(quarantine_key(project.id, sha256(orphan)))


def test_a_live_process_keeps_its_young_staging_folder(tmp_path):
    root = tmp_path / "staging"
    with staging.folder(root) as mine:
        (mine / "a.csv").write_bytes(b"x")
        assert staging.sweep(root, grace_seconds=3600).folders == 0  # in flight: kept
        assert mine.exists()
        old = time.time() - 7200
        os.utime(mine, (old, old))
        assert staging.sweep(root, grace_seconds=3600) == staging.Swept(1, 1, 1)
        assert not mine.exists()
