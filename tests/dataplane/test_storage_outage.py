"""The S3 server going away during an extract or an egress submission: a clear error, retried,
nothing half-written.

The suite's Ceph RGW is reached through a relay that can be cut (tests/fixtures/faults.py):
every open connection closed mid-stream and new ones refused, as when the server stops, then
restored on the same port. (Stopping the shared Ceph would break the other tests; a second
Ceph costs more than the relay proves less.)
"""

from __future__ import annotations

import io
import json
import threading
import time

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from spe.airlock.models import EgressRequest
from spe.audit import AuditEvent
from spe.data import materialise
from spe.data.manifest import MANIFEST_NAME
from spe.dataplane import ProjectDataPlane
from spe.demo import ROWS, load_demo
from spe.domain.permits import Permit
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.errors import RetryableError
from spe.settings import Settings
from spe.web import create_app
from tests.airlock.conftest import OK_CSV, submit
from tests.fixtures.faults import CuttableRelay
from testsupport.factories import auth, make_dataset, make_user, permit_body

pytestmark = pytest.mark.slow
BOUND_SECONDS = 15  # two tries of a 1 s read timeout, with the slack of a loaded machine


@pytest.fixture
def relay(s3_server):
    host, port = s3_server.endpoint.rsplit(":", 1)
    relay = CuttableRelay(host, int(port)).start()
    yield relay
    relay.cut()


@pytest.fixture
def settings(s3_server, relay, tmp_path) -> Settings:
    bucket = s3_server.new_store(versioning=True).bucket
    return Settings(data_dir=tmp_path / "data", public_url="http://testserver",
                    storage_backend="s3", storage_endpoint=relay.endpoint,
                    storage_bucket=bucket, storage_access_key=s3_server.access_key,
                    storage_secret_key=s3_server.secret_key, storage_secure=False,
                    storage_region=s3_server.region)


def events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # the S3 side is the point
def test_s3_lost_mid_extract_leaves_a_reason_then_the_next_pass_resumes(engine, settings,
                                                                        relay, tmp_path):
    plane = ProjectDataPlane(engine, settings)
    demo = load_demo(engine, plane.store)
    with Session(engine) as session:
        project = session.get(Project, demo.project_id)
        permit = session.get(Permit, project.permit_id)

    recorder = plane._progress_recorder

    def cut_mid_extract(project_id, base):
        progress = recorder(project_id, base)

        def cutting(done, total):
            if done and relay.cut_count == 0:
                relay.cut()  # the S3 server stops while ciphertext is being uploaded
            progress(done, total)

        return cutting

    plane._progress_recorder = cut_mid_extract
    with pytest.raises(RetryableError, match="object store"):
        plane.prepare(project, permit)
    with Session(engine) as session:
        condition = session.get(Project, demo.project_id).conditions["extract"]
    assert condition["state"] == "preparing"
    assert condition["message"].startswith("object store unavailable, retrying: ")
    assert "cannot reach the endpoint" in condition["message"]
    assert settings.storage_secret_key.get_secret_value() not in json.dumps(condition)
    assert events(engine, "data.extract.prepare") == []

    relay.restore()
    prefix = f"projects/{demo.project_id}/extracts/"
    assert not [i.key for i in plane.store.list(prefix) if i.key.endswith(MANIFEST_NAME)]
    plane._progress_recorder = recorder
    ref = plane.prepare(project, permit)  # the reconciler's next pass
    with Session(engine) as session:
        assert session.get(Project, demo.project_id).conditions["extract"]["state"] == "ready"
    (done,) = events(engine, "data.extract.prepare")
    assert done.outcome == "success"
    target = tmp_path / "extract"
    materialise(plane.store, ref.manifest_key.removesuffix(MANIFEST_NAME),
                plane.data_key(demo.project_id), plane.signing.public_key, target,
                permit_reference=permit.reference)
    care = pq.read_table(io.BytesIO((target / "snds-care.parquet").read_bytes()))
    assert care.num_rows == ROWS["care"]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_s3_lost_mid_submission_answers_503_keeps_nothing_and_a_retry_succeeds(
        engine, settings, relay):
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        project_id, token = granted(client, engine)
        relay.cut_after(200)  # the S3 server stops while the first file is being put
        refused = submit(client, project_id, token, [("counts.csv", OK_CSV)])
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage.unavailable"
        assert refused.headers["Retry-After"] == "5"
        assert_nothing_kept(engine, settings)

        relay.restore()
        retried = submit(client, project_id, token, [("counts.csv", OK_CSV)])
        assert retried.status_code == 201, retried.text


def granted(client: TestClient, engine) -> tuple[str, str]:
    """A permit granted through the API to a new researcher: its project and her token."""
    researcher, token = make_user(engine, Role.researcher)
    _, manager = make_user(engine, Role.permit_manager)
    permit = client.post("/api/v1/permits", headers=auth(manager),
                         json=permit_body(make_dataset(engine), [researcher])).json()
    return permit["project_id"], token


def assert_nothing_kept(engine, settings) -> None:
    """A refused submission left no request, no success event and no staged file."""
    with Session(engine) as session:
        assert session.exec(select(EgressRequest)).all() == []
    assert [e for e in events(engine, "egress.request.submit") if e.outcome == "success"] == []
    assert list((settings.data_dir / "staging").iterdir()) == []


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_s3_that_never_answers_gets_a_503_in_bounded_time_and_keeps_nothing(
        engine, settings, relay):
    """An S3 server that accepts connections and never answers (stuck, not stopped): the
    submission answers 503 within about two read timeouts (1 s here) instead of hanging."""
    settings = settings.model_copy(update={"storage_read_timeout_seconds": 1.0})
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        project_id, token = granted(client, engine)
        relay.hang()
        # past the bound, cut the relay: a request still hanging (the SDK's own waits, 5 min
        # a try, 6 tries) then ends, and the bound below fails instead of the run hanging
        release = threading.Timer(BOUND_SECONDS, relay.cut)
        release.start()
        started = time.monotonic()
        refused = submit(client, project_id, token, [("counts.csv", OK_CSV)])
        waited = time.monotonic() - started
        release.cancel()
        assert waited < BOUND_SECONDS, f"answered after {waited:.1f} s"
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage.unavailable"
        assert refused.headers["Retry-After"] == "5"
        assert relay.swallowed > 0  # the request reached the server, which kept silent
        assert_nothing_kept(engine, settings)

        relay.restore()
        retried = submit(client, project_id, token, [("counts.csv", OK_CSV)])
        assert retried.status_code == 201, retried.text
        (accepted,) = [e for e in events(engine, "egress.request.submit")
                       if e.outcome == "success"]
        assert accepted.target_id == retried.json()["id"]
