"""Preparing, materialising and shredding a project's extract from the demo permit."""

from __future__ import annotations

import base64
import io
import stat

import pyarrow.parquet as pq
import pytest
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.crypto.canonical import canonical_json
from spe.crypto.signing import verify
from spe.data import synth
from spe.data.encryption import DecryptingReader, WrongKeyError
from spe.dataplane import CONDITION, MissingSecret, ProjectDataPlane, check_grant
from spe.dataplane.config import (
    create_key_files,
    grant_key,
    key_store,
    master_secret,
    require_key_files,
)
from spe.db import session_scope
from spe.domain import permit_lifecycle
from spe.domain.datasets import Dataset
from spe.domain.permits import Permit, PermitAmend, PermittedDataset
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.errors import TerminalError
from spe.keys import KeyDestroyed
from spe.keys.pkcs11 import Pkcs11KeyStore
from spe.settings import Settings

PM = Principal(user_id=None, subject="pm", roles=frozenset({Role.permit_manager}), via="token")


def rows(engine, project_id: str) -> tuple[Project, Permit]:
    with Session(engine) as s:
        project = s.get(Project, project_id)
        return project, s.get(Permit, project.permit_id)


def events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


def raw_nirs() -> set[str]:
    return set(synth.beneficiaries(2_000, seed=2025).column("nir").to_pylist())


def test_prepare_builds_a_minimised_pseudonymised_extract(engine, settings, demo, plane):
    ref = plane.prepare(*rows(engine, demo.project_id))

    assert ref.grant_url == f"http://127.0.0.1:9/api/v1/projects/{demo.project_id}/extract"
    check_grant(grant_key(settings), ref.grant_token, demo.project_id)
    project, _ = rows(engine, demo.project_id)
    condition = project.conditions[CONDITION]
    assert condition["state"] == "ready" and condition["percent"] == 100
    assert condition["rows_done"] == 42_000
    [event] = events(engine, "data.extract.prepare")
    assert event.outcome == "success" and event.project_id == demo.project_id
    assert {f["name"]: f["pseudonymised"] for f in event.details["files"]} == {
        "snds-beneficiaries": ["nir"], "snds-care": ["nir"]}

    mounted = plane.extract_dir(demo.project_id)
    care = pq.read_table(mounted / "snds-care.parquet")
    assert "prescriber_id" not in care.column_names  # not permitted
    assert set(care.column("nir").to_pylist()).isdisjoint(raw_nirs())
    assert stat.S_IMODE(mounted.stat().st_mode) == 0o555
    assert stat.S_IMODE((mounted / "snds-care.parquet").stat().st_mode) == 0o444


def test_prepare_again_changes_nothing(engine, demo, plane):
    first = plane.prepare(*rows(engine, demo.project_id))
    second = plane.prepare(*rows(engine, demo.project_id))
    assert first == second
    assert len(events(engine, "data.extract.prepare")) == 1


def test_an_amendment_makes_a_new_extract_and_drops_the_old(engine, demo, plane):
    old = plane.prepare(*rows(engine, demo.project_id))
    with session_scope(engine) as s:
        permit = s.exec(select(Permit).where(Permit.reference == demo.permit_reference)).one()
        permit_lifecycle.amend_permit(s, permit.id, PermitAmend(
            reason="fewer variables", datasets=[PermittedDataset(
                dataset="snds-beneficiaries", variables=["nir", "birth_year"])]), PM)
    new = plane.prepare(*rows(engine, demo.project_id))

    assert new.manifest_key != old.manifest_key
    keys = [i.key for i in plane.store.list(f"projects/{demo.project_id}/")]
    assert keys and all(k.startswith(new.manifest_key.rsplit("/", 1)[0]) for k in keys)
    mounted = plane.extract_dir(demo.project_id)
    assert sorted(p.name for p in mounted.iterdir()) == [".spe-extract",
                                                         "snds-beneficiaries.parquet"]
    table = pq.read_table(mounted / "snds-beneficiaries.parquet")
    assert table.column_names == ["nir", "birth_year"]
    project, _ = rows(engine, demo.project_id)
    assert project.conditions[CONDITION]["permit_version"] == 2


def test_shred_destroys_the_key_objects_and_signs_a_record(engine, demo, plane):
    project, permit = rows(engine, demo.project_id)
    ref = plane.prepare(project, permit)
    entry = plane.manifest(demo.project_id, ref.manifest_key.split("/")[3],
                           permit_reference=permit.reference, key_id=None)["files"][0]
    saved = plane.store.get_bytes(entry["object_key"])  # a copy taken before

    assert plane.shred(demo.project_id) is True

    assert list(plane.store.list(f"projects/{demo.project_id}/")) == []
    with pytest.raises(KeyDestroyed):
        plane.keys.unwrap(demo.project_id)
    with pytest.raises(WrongKeyError):  # and the right key is gone
        DecryptingReader(io.BytesIO(saved), b"\0" * 32).read()
    [event] = events(engine, "data.shred")
    summary = event.details["record"]
    assert summary["object_count"] == 4  # two files, the manifest and its signature
    assert summary["key_id"] == entry["key_id"] and "plaintext" not in str(event.details)
    assert summary["keystore"] == {"type": "local", "kek_id": plane.keys.kek_id,
                                   "assurance": "software"}
    verify(plane.signing.public_key, canonical_json(summary), event.details["signature"])
    assert base64.b64decode(event.details["signature"])
    assert plane.shred(demo.project_id) is False  # nothing left: no second record
    assert len(events(engine, "data.shred")) == 1
    with pytest.raises(TerminalError, match="shredded"):
        plane.prepare(*rows(engine, demo.project_id))


def test_a_dataset_without_source_is_a_terminal_error(engine, demo, plane):
    with session_scope(engine) as s:
        s.get(Dataset, "snds-care").source_uri = None
    with pytest.raises(TerminalError, match=r"snds-care.*no source"):
        plane.prepare(*rows(engine, demo.project_id))


def test_production_refuses_a_missing_pseudonymisation_secret(tmp_path):
    settings = Settings(data_dir=tmp_path, environment="production", secure_cookies=True,
                        database_url="postgresql+psycopg://spe@db/spe")
    with pytest.raises(MissingSecret, match="pseudonymisation"):
        master_secret(settings)
    development = Settings(data_dir=tmp_path)
    assert master_secret(development) == master_secret(development)  # created once


def test_with_an_hsm_key_store_extracts_open_until_the_hsm_key_is_destroyed(
        engine, demo, settings, softhsm_token, tmp_path):
    hsm = settings.model_copy(update={
        "key_store": "pkcs11", "pkcs11_library": softhsm_token.library,
        "pkcs11_token_label": softhsm_token.label, "pkcs11_pin_file": softhsm_token.pin_file})
    plane = ProjectDataPlane(engine, hsm, extract_dir=lambda p: tmp_path / "mnt" / p)
    assert isinstance(plane.keys, Pkcs11KeyStore)
    project, permit = rows(engine, demo.project_id)
    ref = plane.prepare(project, permit)
    entry = plane.manifest(demo.project_id, ref.manifest_key.split("/")[3],
                           permit_reference=permit.reference, key_id=None)["files"][0]
    key = plane.keys.unwrap(demo.project_id)
    assert entry["key_id"] == key.key_id
    sealed = plane.store.get_bytes(entry["object_key"])
    assert DecryptingReader(io.BytesIO(sealed), key.plaintext).read()
    assert plane.shred(demo.project_id) is True
    with pytest.raises(KeyDestroyed):
        plane.keys.unwrap(demo.project_id)


def test_settings_for_an_hsm_key_store(tmp_path, softhsm_token):
    with pytest.raises(ValueError, match="SPE_PKCS11_LIBRARY"):
        Settings(data_dir=tmp_path, key_store="pkcs11")
    production = Settings(data_dir=tmp_path, environment="production", secure_cookies=True,
                          database_url="postgresql+psycopg://spe@db/spe", key_store="pkcs11",
                          pkcs11_library=softhsm_token.library,
                          pkcs11_token_label=softhsm_token.label,
                          pkcs11_pin_file=tmp_path / "absent-pin")
    create_key_files(production.keys_dir)
    (production.keys_dir / "kek.key").unlink()
    require_key_files(production, "controller")  # the HSM holds the KEKs: no KEK file
    with pytest.raises(MissingSecret, match="SPE_PKCS11_PIN_FILE"):
        key_store(production)


def test_a_project_without_key_has_nothing_to_shred(engine, demo, settings):
    assert ProjectDataPlane(engine, settings).shred(demo.project_id) is False


def test_a_shred_the_key_store_refuses_is_not_recorded(engine, demo, plane):
    """An edited or unreadable wrapped-key file: the shred stops before anything is destroyed
    or deleted, says so, and no deletion record is signed."""
    plane.prepare(*rows(engine, demo.project_id))
    wrapped = plane.keys.path / "projects" / f"{demo.project_id}.json"
    wrapped.write_text("not json")
    before = [i.key for i in plane.store.list(f"projects/{demo.project_id}/")]

    with pytest.raises(TerminalError, match="nothing destroyed or deleted"):
        plane.shred(demo.project_id)

    assert [i.key for i in plane.store.list(f"projects/{demo.project_id}/")] == before
    assert events(engine, "data.shred") == []
