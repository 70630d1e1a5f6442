"""A control plane killed mid-upload, for tests/airlock/test_crash_debris.py.

Run as a process: ``python -m tests.airlock.killed_upload DATA_DIR STORE`` (STORE: JSON,
``{"local": path}`` or the S3ObjectStore arguments). It creates a researcher and a permit in
``DATA_DIR/spe.db``, prints the project id, then submits two CSVs through the real API and
dies by SIGKILL at the moment the files are in quarantine and the request is not yet
committed: the SDC checks are replaced by ``kill -9`` of this very process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from spe import migrations
from spe.airlock import submission
from spe.db import make_engine
from spe.domain.roles import Role
from spe.settings import Settings
from spe.storage.local import LocalObjectStore
from spe.storage.s3 import S3ObjectStore
from spe.web import create_app
from testsupport.factories import auth, make_dataset, make_user, permit_body
from testsupport.platform import swap

FILES = [("counts.csv", b"region,count\nnorth,120\nsouth,85\n"),
         ("tables/ages.csv", b"age_band,count\n0-24,310\n25-49,402\n")]


def main(data_dir: Path, store_spec: dict) -> None:
    engine = make_engine(f"sqlite:///{data_dir / 'spe.db'}")
    migrations.upgrade(engine)
    app = create_app(Settings(data_dir=data_dir), engine)
    swap(app, object_store=(LocalObjectStore(Path(store_spec["local"]))
                            if "local" in store_spec else S3ObjectStore(**store_spec)))
    researcher, token = make_user(engine, Role.researcher)
    _, manager = make_user(engine, Role.permit_manager)
    with TestClient(app) as client:
        permit = client.post("/api/v1/permits", headers=auth(manager),
                             json=permit_body(make_dataset(engine), [researcher])).json()
        print(json.dumps({"project": permit["project_id"]}), flush=True)
        submission._run_checks = lambda *_args: os.kill(os.getpid(), signal.SIGKILL)
        client.post(f"/api/v1/projects/{permit['project_id']}/egress-requests",
                    headers=auth(token), data={"title": "t", "descriptions": ["counts"]},
                    files=[("files", (name, data, "text/csv")) for name, data in FILES])
    raise SystemExit("the submission was not killed")


if __name__ == "__main__":
    main(Path(sys.argv[1]), json.loads(sys.argv[2]))
