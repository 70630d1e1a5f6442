"""An egress request of 20 CSV files of 5,000 rows each, end to end through the API.

    python -m benchmarks.egress_request [--files 20] [--rows 5000] [--repeat 3]

End to end: multipart upload to the API, staging and hashing, quarantine in a local object
store, the SDC checks with the permit's pack (snds) including differencing against a
ledger already holding the same number of released tables, the database rows and audit
events. Baseline, measured in the same run on the same bytes: hashing them and writing them
to the same object store (what any airlock must do, without checks or bookkeeping). Target:
end to end under 2 s.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel

import spe.airlock.models  # noqa: F401  (registers the egress tables)
from egress.checks import check_paths
from spe import migrations
from spe.airlock.ledger import load as load_ledger
from spe.api.routes import egress as egress_routes
from spe.db import make_engine
from spe.domain.roles import Role
from spe.settings import Settings
from spe.storage.layout import quarantine_key
from spe.storage.local import LocalObjectStore
from spe.web import create_app
from testsupport.factories import make_dataset, make_user, permit_body
from testsupport.platform import swap

TARGET_SECONDS = 2.0


def csv_table(rows: int, seed: int) -> bytes:
    """An aggregated count table: two dimensions, every count at least 11."""
    rng = np.random.default_rng(seed)
    lines = ["region,age_band,count"]
    lines += [f"R{i // 50:03d},A{i % 50:02d},{n}"
              for i, n in enumerate(rng.integers(11, 500, rows))]
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="spe-bench-") as tmp:
        root = Path(tmp)
        engine = make_engine(f"sqlite:///{root / 'spe.db'}")
        migrations.upgrade(engine)
        SQLModel.metadata.create_all(engine)
        store = LocalObjectStore(root / "objects")
        app = create_app(Settings(data_dir=root / "data"), engine)
        if not any(getattr(r, "path", "").startswith("/api/v1/egress") for r in app.routes):
            app.include_router(egress_routes.router)
        swap(app, object_store=store)
        with TestClient(app) as client:
            run(client, engine, store, args)
        engine.dispose()


def run(client: TestClient, engine, store: LocalObjectStore, args) -> None:
    researcher, token = make_user(engine, Role.researcher)
    _, manager = make_user(engine, Role.permit_manager)
    checkers = [make_user(engine, Role.output_checker)[1] for _ in range(2)]
    permit = client.post("/api/v1/permits", headers=bearer(manager),
                         json=permit_body(make_dataset(engine), [researcher])).json()
    project = permit["project_id"]

    released = [(f"released_{i:02d}.csv", csv_table(args.rows, 1000 + i))
                for i in range(args.files)]
    request = post_request(client, project, token, released)
    for checker in checkers:
        for file in request["files"]:
            client.post(f"/api/v1/egress/requests/{request['id']}/files/{file['id']}/votes",
                        headers=bearer(checker),
                        json={"decision": "approve", "sha256": file["sha256"]})
    response = client.post(f"/api/v1/egress/requests/{request['id']}/release",
                           headers=bearer(checkers[0]))
    assert response.status_code == 201, response.text

    end_to_end, baseline, checks = [], [], []
    for attempt in range(args.repeat):
        files = [(f"table_{i:02d}.csv", csv_table(args.rows, 100 * attempt + i))
                 for i in range(args.files)]
        start = time.perf_counter()
        request = post_request(client, project, token, files)
        end_to_end.append(time.perf_counter() - start)
        assert request["status"] == "checked" and len(request["files"]) == args.files
        start = time.perf_counter()
        for _, data in files:
            store.put_bytes(quarantine_key(project, hashlib.sha256(data).hexdigest()), data)
        baseline.append(time.perf_counter() - start)
        checks.append(checks_alone(engine, project, files))

    total = sum(len(d) for _, d in files)
    best, base = min(end_to_end), min(baseline)
    print(f"egress request: {args.files} CSV files x {args.rows} rows "
          f"({total / 1e6:.1f} MB), ledger of {args.files} released tables, best of "
          f"{args.repeat}")
    print(f"  end to end (upload, hash, quarantine, checks, ledger, audit): {best:.3f} s")
    print(f"  baseline (hash + store the same bytes):                       {base:.3f} s")
    print(f"  of which the SDC checks alone (check_paths with the ledger):  {min(checks):.3f} s")
    print(f"  ratio end to end / baseline: {best / base:.1f}x")
    print(f"  target < {TARGET_SECONDS:.1f} s: {'met' if best < TARGET_SECONDS else 'MISSED'}")


def checks_alone(engine, project: str, files: list[tuple[str, bytes]]) -> float:
    with tempfile.TemporaryDirectory() as tmp, Session(engine) as session:
        paths = []
        for name, data in files:
            (Path(tmp) / name).write_bytes(data)
            paths.append(Path(tmp) / name)
        ledger = load_ledger(session, project)
        start = time.perf_counter()
        check_paths(paths, "snds", ledger=ledger)
        return time.perf_counter() - start


def post_request(client: TestClient, project: str, token: str,
                 files: list[tuple[str, bytes]]) -> dict:
    response = client.post(
        f"/api/v1/projects/{project}/egress-requests", headers=bearer(token),
        data={"title": "benchmark", "descriptions": ["counts by region and age band"]},
        files=[("files", (name, data, "text/csv")) for name, data in files])
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


if __name__ == "__main__":
    main()
