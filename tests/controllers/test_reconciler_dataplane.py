"""The reconciler with the real data plane, crashed at each data-plane step, then restarted.

The runtime is the in-memory double; the data plane is the real :class:`ProjectDataPlane`
(local object store, key store, signed manifests) over a database with the demo loaded. A
crash is an exception raised from inside a function the data plane calls, at the chosen
moment; the "restarted" reconciler is a new reconciler with a new data plane over the same
database, store, keys and runtime. Whatever the crash, the passes that follow converge: one
complete extract (signed manifest, every file's sha256 verified), nothing else under the
project's extract prefix, the audit log without duplicates for the steps that completed;
after revocation no object left and the key destroyed.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from sqlmodel import Session, select

from controllers.reconciler import Reconciler
from spe import demo as demo_module
from spe.audit.models import AuditEvent
from spe.data.manifest import MANIFEST_NAME
from spe.dataplane import ProjectDataPlane
from spe.db import session_scope
from spe.demo import Demo, load_demo
from spe.domain import permit_lifecycle
from spe.domain.permits import Permit
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.keys import KeyDestroyed
from spe.storage.layout import project_prefix
from tests.controllers.conftest import MemoryRuntime

MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")
STEPS = ("data.extract.prepare", "data.shred", "workspace.provision", "workspace.ready",
         "workspace.delete")


class Crash(Exception):
    """The controller's process dying in the middle of a step."""


@pytest.fixture
def demo(engine, settings, monkeypatch) -> Demo:
    monkeypatch.setattr(demo_module, "ROWS", {"beneficiaries": 300, "care": 3_000})
    return load_demo(engine, ProjectDataPlane(engine, settings).store)


@pytest.fixture
def runtime() -> MemoryRuntime:
    return MemoryRuntime()


def restarted(engine, runtime, settings, box) -> tuple[Reconciler, ProjectDataPlane]:
    """A fresh controller process: new reconciler, new data plane, same world."""
    plane = ProjectDataPlane(engine, settings)
    return Reconciler(engine, runtime, settings, box, plane), plane


def crash_when(monkeypatch, owner, name: str, when) -> list[tuple]:
    """Make ``owner.name`` raise :class:`Crash` the first time ``when(*args)`` is true
    (before the call); the calls seen are returned as they happen."""
    original, calls = getattr(owner, name), []

    def crashing(*args, **kwargs):
        calls.append(args)
        if when(*args):
            monkeypatch.setattr(owner, name, original)
            raise Crash(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, crashing)
    return calls


def extract_objects(plane: ProjectDataPlane, project_id: str) -> dict[str, bytes]:
    prefix = f"{project_prefix(project_id)}extracts/"
    return {i.key: plane.store.get_bytes(i.key) for i in plane.store.list(prefix)}


def assert_one_complete_extract(plane: ProjectDataPlane, project_id: str) -> None:
    objects = extract_objects(plane, project_id)
    [manifest_key] = [k for k in objects if k.endswith("/" + MANIFEST_NAME)]
    extract_id = manifest_key.split("/")[-2]
    with Session(plane.engine) as s:
        reference = s.get(Permit, s.get(Project, project_id).permit_id).reference
    manifest = plane.manifest(  # its signature verified, and bound to this extract
        project_id, extract_id, permit_reference=reference,
        key_id=plane.keys.unwrap(project_id).key_id)
    files = {f["object_key"]: f for f in manifest["files"]}
    assert {f["name"] for f in manifest["files"]} == {"snds-beneficiaries", "snds-care"}
    for key, entry in files.items():
        assert hashlib.sha256(objects[key]).hexdigest() == entry["sha256"]
        assert len(objects[key]) == entry["size"]
    prefix = manifest_key.removesuffix(MANIFEST_NAME)
    assert {k.removeprefix(prefix) for k in set(objects) - set(files)} == \
        {MANIFEST_NAME, "manifest.json.sig"}, "no orphan objects"
    with Session(plane.engine) as s:
        condition = s.get(Project, project_id).conditions["extract"]
    assert (condition["state"], condition["extract_id"]) == ("ready", extract_id)


def audit_counts(engine, project_id: str) -> Counter:
    with Session(engine) as s:
        return Counter(e.action for e in s.exec(select(AuditEvent).where(
            AuditEvent.project_id == project_id, AuditEvent.outcome == "success")))


def revoke(engine, project_id: str) -> None:
    with session_scope(engine) as s:
        permit_id = s.get(Project, project_id).permit_id
        permit_lifecycle.revoke_permit(s, permit_id, "ended", MANAGER)


def assert_shredded(plane: ProjectDataPlane, project_id: str) -> None:
    assert extract_objects(plane, project_id) == {}
    assert not plane.keys.exists(project_id)
    with pytest.raises(KeyDestroyed):
        plane.keys.unwrap(project_id)


def converge(engine, runtime, settings, box, project_id: str) -> ProjectDataPlane:
    """Restart, run passes until ready, then twice more: the result must not change."""
    reconciler, plane = restarted(engine, runtime, settings, box)
    for _ in range(3):
        [result] = reconciler.run_once()
        assert (result.observed, result.error) == ("ready", None)
    assert runtime.projects() == {project_id} and runtime.starts == 1
    assert_one_complete_extract(plane, project_id)
    return plane


def test_crash_while_writing_the_extract_before_its_manifest(engine, runtime, settings, box,
                                                             demo, monkeypatch):
    reconciler, plane = restarted(engine, runtime, settings, box)
    puts = crash_when(monkeypatch, plane.store, "put_bytes",
                      lambda key, *_: key.endswith("/" + MANIFEST_NAME))
    [result] = reconciler.run_once()
    assert result.error == "Crash: put_bytes" and runtime.starts == 0
    written = extract_objects(plane, demo.project_id)
    assert any(k.endswith(".parquet.enc") for k in written)  # some of the extract is there
    assert not any(k.endswith("/" + MANIFEST_NAME) for k in written)
    assert len(puts) > 1

    plane = converge(engine, runtime, settings, box, demo.project_id)
    counts = audit_counts(engine, demo.project_id)
    assert counts["data.extract.prepare"] == 1 and counts["workspace.ready"] == 1


def test_crash_after_the_first_file_of_the_extract(engine, runtime, settings, box, demo,
                                                   monkeypatch):
    reconciler, plane = restarted(engine, runtime, settings, box)
    crash_when(monkeypatch, plane.store, "put",
               lambda key, *_: key.endswith("snds-care.parquet.enc"))
    [result] = reconciler.run_once()
    assert result.error == "Crash: put"
    assert [k for k in extract_objects(plane, demo.project_id)
            if k.endswith(".parquet.enc")] != []

    converge(engine, runtime, settings, box, demo.project_id)
    assert audit_counts(engine, demo.project_id)["data.extract.prepare"] == 1


def test_crash_after_prepare_before_the_workspace(engine, runtime, settings, box, demo,
                                                  monkeypatch):
    reconciler, _ = restarted(engine, runtime, settings, box)
    crash_when(monkeypatch, runtime, "ensure", lambda spec: True)
    [result] = reconciler.run_once()
    assert result.error == "Crash: ensure" and runtime.projects() == set()
    assert audit_counts(engine, demo.project_id)["data.extract.prepare"] == 1

    plane = converge(engine, runtime, settings, box, demo.project_id)
    counts = audit_counts(engine, demo.project_id)
    assert counts["data.extract.prepare"] == 1, "the finished extract is not made again"
    assert counts["workspace.provision"] == 1 and counts["workspace.ready"] == 1
    assert plane.keys.exists(demo.project_id)


def test_crash_inside_shred_after_the_key_is_destroyed(engine, runtime, settings, box, demo,
                                                       monkeypatch):
    plane = converge(engine, runtime, settings, box, demo.project_id)
    extract = extract_objects(plane, demo.project_id)
    revoke(engine, demo.project_id)
    reconciler, plane = restarted(engine, runtime, settings, box)
    crash_when(monkeypatch, plane.store, "delete", lambda key: True)
    [result] = reconciler.run_once()
    assert result.error == "Crash: delete"
    assert not plane.keys.exists(demo.project_id), "the key goes first"
    assert extract_objects(plane, demo.project_id) == extract  # nothing deleted yet
    assert audit_counts(engine, demo.project_id)["data.shred"] == 0

    reconciler, plane = restarted(engine, runtime, settings, box)
    for _ in range(3):
        [result] = reconciler.run_once()
        assert (result.observed, result.error) == ("deleted", None)
    assert_shredded(plane, demo.project_id)
    assert runtime.projects() == set()
    counts = audit_counts(engine, demo.project_id)
    assert {step: counts[step] for step in STEPS} == dict.fromkeys(STEPS, 1)
    with Session(engine) as s:
        [shred] = s.exec(select(AuditEvent).where(AuditEvent.action == "data.shred")).all()
    assert shred.details["record"]["destroyed_now"] is False  # the crashed pass destroyed it
    assert shred.details["record"]["object_count"] == len(extract)
