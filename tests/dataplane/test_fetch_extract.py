"""The Kubernetes init container's script against the real control plane: the grant the
reconciler hands out fetches exactly the decrypted, pseudonymised extract."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow.parquet as pq
from sqlmodel import Session

from spe.domain.permits import Permit
from spe.domain.projects import Project
from spe.web import create_app
from testsupport.live_server import serving
from testsupport.platform import swap

SCRIPT = Path(__file__).resolve().parents[2] / "workspaces" / "image" / "fetch_extract.py"
_spec = importlib.util.spec_from_file_location("fetch_extract", SCRIPT)
fetch_extract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_extract)


def test_the_init_container_fetches_the_extract(engine, settings, demo, plane, tmp_path):
    app = create_app(settings, engine)
    with serving(app) as url:
        live = settings.model_copy(update={"public_url": url})
        swap(app, settings=live)
        plane.settings = live
        with Session(engine) as s:
            project = s.get(Project, demo.project_id)
            permit = s.get(Permit, project.permit_id)
        ref = plane.prepare(project, permit)
        target = tmp_path / "workspace-data"
        count = fetch_extract.fetch(ref.grant_url, ref.grant_token, target)
    manifest = plane.manifest(demo.project_id, ref.manifest_key.split("/")[-2],
                              permit_reference=permit.reference, key_id=None)
    assert count == len(manifest["files"]) > 0
    for entry in manifest["files"]:
        table = pq.read_table(target / f"{entry['name']}.parquet")
        assert table.num_rows == entry["rows"]
        assert table.column_names == [c["name"] for c in entry["columns"]]
