"""Backup and restore on PostgreSQL, as docs/production.md describes it: a `pg_dump` of the
database, a copy of the keys (the keys Secret and the wrapped data keys) and of the object
store, restored onto a fresh database and fresh directories.

After the restore the audit log verifies and continues from where the backup left it, every
live extract decrypts, and a project crypto-shredded *after* the backup, whose key the
backup brings back, is shredded again by the signed shred list (spe/dataplane/shredlist.py)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from spe import migrations
from spe.audit import Actor
from spe.audit.log import record
from spe.audit.signer import create_checkpoint
from spe.audit.verify import verify_database
from spe.crypto.signing import SigningKey
from spe.data.reader import read_extract
from spe.dataplane import ProjectDataPlane, shredlist
from spe.dataplane.config import key_store, object_store
from spe.db import make_engine, session_scope
from spe.demo import DATASETS, PERMITTED, load_demo
from spe.domain import permit_lifecycle
from spe.domain.permits import Permit, PermitCreate, PermittedDataset
from spe.domain.principal import Principal
from spe.domain.projects import Project, project_of
from spe.domain.roles import Role
from spe.domain.users import find_by_subject
from spe.errors import TerminalError
from spe.settings import Settings
from spe.storage.layout import project_prefix
from testsupport.postgres import _bindir

pytestmark = pytest.mark.postgres
LONG_AGO = datetime.now(UTC) - timedelta(days=366)


@dataclass
class Platform:
    settings: Settings
    engine: object
    plane: ProjectDataPlane

    @classmethod
    def at(cls, data_dir: Path, url: str) -> Platform:
        settings = Settings(_env_file=None, data_dir=data_dir, database_url=url,
                            public_url="http://127.0.0.1:9")
        engine = make_engine(url)
        return cls(settings, engine, ProjectDataPlane(engine, settings))

    @property
    def audit_signer(self) -> SigningKey:
        return SigningKey.load_or_create(self.settings.resolved_audit_signing_key_path)

    def verify(self):
        with Session(self.engine) as s:
            return verify_database(s, self.audit_signer.public_key, LONG_AGO, compiled=False)

    def checkpoint(self) -> None:
        with Session(self.engine) as s:
            create_checkpoint(s, self.audit_signer)
            s.commit()

    def extract(self, project_id: str) -> tuple[dict, dict]:
        """The project's extract (built if needed), decrypted, and its manifest."""
        with Session(self.engine) as s:
            project = s.get(Project, project_id)
            permit = s.get(Permit, project.permit_id)
        ref = self.plane.prepare(project, permit)
        prefix = ref.manifest_key.rsplit("/", 1)[0] + "/"
        key = self.plane.data_key(project_id)
        tables = read_extract(self.plane.store, prefix, key, self.plane.signing.public_key,
                              permit_reference=permit.reference)
        return tables, self.plane.manifest(project_id, prefix.split("/")[-2],
                                           permit_reference=permit.reference,
                                           key_id=key.key_id)


def second_project(engine) -> str:
    """Another permit and project beside the demo's, on the same datasets."""
    with session_scope(engine) as session:
        pm = find_by_subject(session, "pm")
        now = datetime.now(UTC)
        permit = permit_lifecycle.create_permit(session, PermitCreate(
            reference="BACKUP-TEST-2", issuer="tests", purpose="backup and restore",
            project_title="Shredded after the backup", principal_investigator="alice",
            members=["alice"], sdc_policy="snds", workspace_profile="standard",
            datasets=[PermittedDataset(dataset=DATASETS[t], variables=v)
                      for t, v in PERMITTED.items()],
            valid_from=now - timedelta(minutes=1), valid_until=now + timedelta(days=90)),
            Principal(user_id=pm.id, subject="pm", roles=frozenset({Role.permit_manager}),
                      via="system"))
        return project_of(session, permit.id).id


def pg(server, tool: str, *args: str) -> None:
    subprocess.run([str(_bindir() / tool), "-h", server.host, "-p", str(server.port),
                    "-U", server.superuser, *args], check=True, capture_output=True,
                   timeout=120)


def test_restore_verifies_decrypts_and_keeps_shredded_projects_shredded(
        postgres_server, tmp_path):
    live_url = postgres_server.url(postgres_server.create_database("live"))
    migrations.upgrade(make_engine(live_url))
    live = Platform.at(tmp_path / "live", live_url)
    demo = load_demo(live.engine, object_store(live.settings))
    kept, shredded = demo.project_id, second_project(live.engine)
    kept_tables, _ = live.extract(kept)
    live.extract(shredded)
    live.checkpoint()
    at_backup = live.verify()

    # The backup: database, keys (Secret and wrapped data keys), object store.
    backup = tmp_path / "backup"
    pg(postgres_server, "pg_dump", "--format=custom", f"--file={backup}.dump",
       live_url.rsplit("/", 1)[1])
    shutil.copytree(live.settings.keys_dir, backup / "keys")
    shutil.copytree(live.settings.data_dir / "objects", backup / "objects")

    # After it: the second project is crypto-shredded, and its signed record exported.
    assert live.plane.shred(shredded)
    with Session(live.engine) as s:
        shred_list = shredlist.export(s)
    assert [e["record"]["project_id"] for e in shred_list["entries"]] == [shredded]

    # The restore, onto a fresh database and fresh directories.
    name = postgres_server.create_database("restored")
    pg(postgres_server, "pg_restore", "--no-owner", f"--dbname={name}", f"{backup}.dump")
    shutil.copytree(backup / "keys", tmp_path / "restored" / "keys")
    shutil.copytree(backup / "objects", tmp_path / "restored" / "objects")
    restored = Platform.at(tmp_path / "restored", postgres_server.url(name))

    # The audit log verifies, and continues from where the backup left it.
    report = restored.verify()
    assert (report.size, report.checkpoints) == (at_backup.size, at_backup.checkpoints)
    with session_scope(restored.engine) as s:
        event = record(s, action="backup.restored", actor=Actor.system("tests"))
    assert event.seq == at_backup.size
    restored.checkpoint()
    assert restored.verify().size == at_backup.size + 1

    # The older key backup brought the shredded project's key back: the danger itself.
    keys = key_store(restored.settings)
    assert keys.exists(shredded)

    # A tampered list is refused whole, before anything is destroyed.
    forged = {**shred_list, "entries": [{**shred_list["entries"][0], "record": {
        **shred_list["entries"][0]["record"], "project_id": kept}}]}
    with pytest.raises(shredlist.ShredListError, match="signature does not verify"):
        shredlist.apply(forged, restored.plane.signing.public_key, keys,
                        restored.plane.store)
    assert keys.exists(kept) and keys.exists(shredded)

    # The signed shred list, applied after the restore, shreds it again.
    done = shredlist.apply(shred_list, restored.plane.signing.public_key, keys,
                           restored.plane.store)
    assert [(d["project_id"], d["key_destroyed_now"]) for d in done] == [(shredded, True)]
    assert done[0]["object_count"] > 0
    with pytest.raises(TerminalError, match="no usable data key"):
        restored.plane.data_key(shredded)
    prefix = f"{project_prefix(shredded)}extracts/"
    assert not list(restored.plane.store.list(prefix))
    again = shredlist.apply(shred_list, restored.plane.signing.public_key, keys,
                            restored.plane.store)
    assert again[0]["key_destroyed_now"] is False  # idempotent

    # Every live extract decrypts, identical to before the disaster.
    tables, manifest = restored.extract(kept)
    assert set(tables) == set(kept_tables) == {f["name"] for f in manifest["files"]}
    for name_, table in tables.items():
        assert table.equals(kept_tables[name_])
    for platform in (live, restored):
        platform.engine.dispose()
