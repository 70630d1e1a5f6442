"""The data plane on the real S3 server (Ceph RGW): the demo sources uploaded through the
API, the demo permit's extract prepared and fetched with its grant, then shredded."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from spe.data import synth
from spe.dataplane import ProjectDataPlane
from spe.demo import DATASETS, PERMITTED, ROWS, variables
from spe.domain.permits import Permit
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.keys import KeyDestroyed
from spe.settings import Settings
from spe.web import create_app
from testsupport.factories import make_user
from testsupport.platform import swap


@pytest.fixture
def settings(s3_server, tmp_path) -> Settings:
    bucket = s3_server.new_store(versioning=True).bucket
    return Settings(data_dir=tmp_path / "data", public_url="http://testserver",
                    storage_backend="s3", storage_endpoint=s3_server.endpoint,
                    storage_bucket=bucket, storage_access_key=s3_server.access_key,
                    storage_secret_key=s3_server.secret_key, storage_secure=False,
                    storage_region=s3_server.region)


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # the S3 side is the point
def test_sources_extract_and_shred_on_s3(engine, settings, tmp_path):
    plane = ProjectDataPlane(engine, settings)
    app = create_app(settings, engine)
    swap(app, data_plane=plane)
    steward = {"Authorization": f"Bearer {make_user(engine, Role.data_steward)[1]}"}
    pm = {"Authorization": f"Bearer {make_user(engine, Role.permit_manager)[1]}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        for table, name in DATASETS.items():
            assert client.post("/api/v1/datasets", headers=steward, json={
                "name": name, "holder": "CNAM", "variables": variables(table)}
            ).status_code == 201
            path = tmp_path / f"{table}.parquet"
            synth.write(table, path, ROWS[table], seed=2025)
            uploaded = client.post(f"/api/v1/datasets/{name}/sources", headers=steward,
                                   files={"file": ("2025.parquet", path.read_bytes())})
            assert uploaded.status_code == 201, uploaded.text
            assert uploaded.json()["rows"] == ROWS[table]
        now = datetime.now(UTC)
        permit = client.post("/api/v1/permits", headers=pm, json={
            "reference": "S3-DEMO-1", "issuer": "HDH", "purpose": "demo on S3",
            "project_title": "S3", "principal_investigator": "alice", "members": ["alice"],
            "datasets": [{"dataset": DATASETS[t], "variables": v}
                         for t, v in PERMITTED.items()],
            "valid_from": (now - timedelta(minutes=1)).isoformat(),
            "valid_until": (now + timedelta(days=1)).isoformat()}).json()
        project_id = permit["project_id"]
        with Session(engine) as s:
            ref = plane.prepare(s.get(Project, project_id), s.get(Permit, permit["id"]))

        stored = [i.key for i in plane.store.list(f"projects/{project_id}/")]
        assert len(stored) == 4 and ref.manifest_key in stored
        grant = {"Authorization": f"Bearer {ref.grant_token}"}
        care = client.get(f"/api/v1/projects/{project_id}/extract/files/snds-care",
                          headers=grant)
        assert care.status_code == 200
        assert pq.read_table(io.BytesIO(care.content)).num_rows == ROWS["care"]

    assert plane.shred(project_id) is True
    assert list(plane.store.list(f"projects/{project_id}/")) == []
    with pytest.raises(KeyDestroyed):
        plane.keys.unwrap(project_id)
