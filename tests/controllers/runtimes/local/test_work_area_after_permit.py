"""The work area after the permit ends, on the local runtime, by behaviour: the reconciler
(with a real hub) tears the workspace down, and nothing of alice's saved work is left to
read: not the file, not a process that could hold it open, not the hub that served it.
With the data plane and gocryptfs, the work area was encrypted at rest under the project's
work-area key, and that key is destroyed first: a copy of the ciphertext opens no more."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from controllers.reconciler import Reconciler
from controllers.runtimes.local import LocalRuntime, encryption, processes
from spe import migrations
from spe.audit.models import AuditEvent
from spe.crypto.secretbox import SecretBox
from spe.dataplane import workareas
from spe.db import make_engine, session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.keys import KeyDestroyed
from spe.settings import Settings
from tests.controllers.runtimes.local.test_runtime import NOTEBOOK, _environ, spawn
from tests.fixtures.dataplane import WorkAreaKeysOnly
from testsupport.factories import make_dataset, permit_body

pytestmark = pytest.mark.timeout(180)
MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")


def open_under(root: Path) -> list[str]:
    """Files under ``root`` that a live process holds open (readable through /proc)."""
    held = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            targets = [os.readlink(fd) for fd in fd_dir.iterdir()]
        except OSError:
            continue
        held += [t for t in targets if t.startswith(f"{root}/")]
    return held


def test_the_work_area_is_gone_when_the_permit_is_revoked(tmp_path, runtime_root):
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data")
    runtime = LocalRuntime(runtime_root)
    reconciler = Reconciler(engine, runtime, settings,
                            SecretBox.load_or_create(settings.keys_dir / "secrets.key"))
    body = permit_body(make_dataset(engine), ["alice"])
    with session_scope(engine) as s:
        permit = lifecycle.create_permit(s, PermitCreate(**body), MANAGER)
        project = s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()
    layout = runtime.layout(project)
    try:
        [ready] = reconciler.run_once()
        assert ready.observed == "ready", ready
        url = runtime.observe(project).url
        server = spawn(runtime, project, "alice")
        with server.client() as http:
            assert http.put("api/contents/analysis.ipynb", json=NOTEBOOK).status_code == 201
        saved = layout.users / "alice" / "analysis.ipynb"
        assert "x = 1" in saved.read_text()

        with session_scope(engine) as s:
            lifecycle.revoke_permit(s, permit.id, "study ended", MANAGER)
        [ended] = reconciler.run_once()

        assert ended.observed == "deleted"
        assert not saved.exists() and not layout.root.exists()
        assert not processes.alive(server.pid)
        assert processes.workspace_pids(layout.root) == set()
        assert open_under(layout.root) == []  # no deleted file still readable via /proc
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}user/alice/api/contents/analysis.ipynb")
    finally:
        runtime.delete(project)
        engine.dispose()


def files_hold(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*")
            if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


def test_the_encrypted_work_area_is_crypto_shredded_when_the_permit_is_revoked(
        tmp_path, runtime_root):
    runtime = LocalRuntime(runtime_root)
    assert encryption.probe(tmp_path) == "", "gocryptfs and FUSE are needed (apt.txt)"
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data")
    plane = WorkAreaKeysOnly(engine, settings)
    reconciler = Reconciler(engine, runtime, settings,
                            SecretBox.load_or_create(settings.keys_dir / "secrets.key"), plane)
    body = permit_body(make_dataset(engine), ["alice"])
    with session_scope(engine) as s:
        permit = lifecycle.create_permit(s, PermitCreate(**body), MANAGER)
        project = s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()
    layout = runtime.layout(project)
    folders = encryption.EncryptedFolders(layout.root)
    try:
        [ready] = reconciler.run_once()
        assert ready.observed == "ready", ready
        assert encryption.mounted(layout.users) and encryption.mounted(layout.root / "shared")
        server = spawn(runtime, project, "alice")
        server.execute("open('project/shared.txt', 'w').write('members only')\n")
        with server.client() as http:
            assert http.put("api/contents/analysis.ipynb", json=NOTEBOOK).status_code == 201
        saved = layout.users / "alice" / "analysis.ipynb"
        assert "x = 1" in saved.read_text()
        # at rest, only ciphertext: neither the contents nor the names
        for folder, needles in (("users", (b"x = 1", b"analysis")),
                                ("shared", (b"members only", b"shared.txt"))):
            for needle in needles:
                assert files_hold(folders.cipher(folder), needle) == []
            assert not [p for p in folders.cipher(folder).rglob("*")
                        if needles[1].decode() in p.name]
        key = plane.keys.unwrap(workareas.key_name(project))
        passphrase = base64.b64encode(key.plaintext).decode()
        for pid in processes.workspace_pids(layout.root):  # gocryptfs included
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            assert passphrase not in cmdline and passphrase not in json.dumps(_environ(pid))
        # a copy of the ciphertext (a backup, blocks left on the disk) opens with the key...
        copy = tmp_path / "copy"  # (data/ and project/ are links, encrypted too)
        shutil.copytree(folders.cipher("users"), copy / "cipher", symlinks=True)
        (copy / "plain").mkdir()
        subprocess.run(["gocryptfs", "-q", str(copy / "cipher"), str(copy / "plain")],
                       input=passphrase.encode(), check=True, timeout=30)
        try:
            assert "x = 1" in (copy / "plain" / "alice" / "analysis.ipynb").read_text()
        finally:
            subprocess.run(["fusermount", "-u", str(copy / "plain")], check=True, timeout=30)

        with session_scope(engine) as s:
            lifecycle.revoke_permit(s, permit.id, "study ended", MANAGER)
        [ended] = reconciler.run_once()

        # ...and the key is gone: destroyed in the key store, recorded with the store's name
        assert ended.observed == "deleted"
        with pytest.raises(KeyDestroyed):
            plane.keys.unwrap(workareas.key_name(project))
        with Session(engine) as s:
            [event] = s.exec(select(AuditEvent).where(
                AuditEvent.action == workareas.ACTION)).all()
        assert event.details["record"]["key_id"] == key.key_id
        assert event.details["record"]["keystore"] == plane.keys.description
        assert passphrase not in json.dumps(event.details)
        assert not saved.exists() and not layout.root.exists()
        assert not encryption.mounted(layout.users)
        assert processes.workspace_pids(layout.root) == set()
        assert open_under(layout.root) == []
        assert files_hold(copy / "cipher", b"x = 1") == []  # what is left is ciphertext
    finally:
        runtime.delete(project)
        engine.dispose()
