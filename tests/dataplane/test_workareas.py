"""The work-area key (spe/dataplane/workareas.py): one per project beside the extract's, in
either key store; destroyed once, recorded once (signed), even across a crash between the
two; refused for good after; re-destroyed by the shred list after a restore."""

from __future__ import annotations

import base64
import shutil

import pytest
from sqlmodel import Session, select

from spe import migrations
from spe.audit.models import AuditEvent
from spe.dataplane import shredlist, workareas
from spe.db import make_engine
from spe.errors import TerminalError
from spe.keys import KeyDestroyed, LocalKeyStore
from spe.keys.pkcs11 import Pkcs11KeyStore
from spe.settings import Settings
from tests.fixtures.dataplane import WorkAreaKeysOnly


@pytest.fixture(params=["local", "pkcs11"])
def keys(request, tmp_path):
    if request.param == "local":
        return LocalKeyStore(tmp_path / "keys")
    token = request.getfixturevalue("softhsm_token")
    return Pkcs11KeyStore(tmp_path / "keys", token.library, token.label, token.pin)


def test_one_key_per_project_beside_the_extracts(keys):
    first = workareas.passphrase(keys, "p-1")
    assert workareas.passphrase(keys, "p-1") == first  # the same key at every pass
    assert len(base64.b64decode(first)) == 32
    assert workareas.passphrase(keys, "p-2") != first
    assert not keys.exists("p-1")  # the extract's key is another one, made by the extract
    assert workareas.project_of(workareas.key_name("p-1")) == "p-1"
    assert workareas.project_of("p-1") is None


def test_destroyed_it_is_refused_for_good_and_the_record_names_the_store(keys):
    workareas.passphrase(keys, "p-1")
    done = workareas.destroy(keys, "p-1")
    assert done["destroyed_now"] is True and done["keystore"] == keys.description
    assert done["stored_as"] == "p-1.work-area"
    with pytest.raises(KeyDestroyed):
        keys.unwrap(workareas.key_name("p-1"))
    with pytest.raises(TerminalError, match="shredded"):
        workareas.passphrase(keys, "p-1")
    again = workareas.destroy(keys, "p-1")
    assert again["destroyed_now"] is False and again["key_id"] == done["key_id"]
    assert workareas.destroy(keys, "p-never") is None


@pytest.fixture
def plane(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    yield WorkAreaKeysOnly(engine, Settings(data_dir=tmp_path / "data"))
    engine.dispose()


def events(plane):
    with Session(plane.engine) as s:
        return s.exec(select(AuditEvent).where(AuditEvent.action == workareas.ACTION)).all()


def test_recorded_once_even_when_the_record_was_lost_to_a_crash(plane):
    key = plane.work_area_key("p-1")
    assert plane.shred_work_area("p-1") is True
    assert plane.shred_work_area("p-1") is False  # later passes: nothing more
    [event] = events(plane)
    assert event.details["record"]["destroyed_now"] is True
    assert key not in str(event.details)
    with pytest.raises(TerminalError):
        plane.work_area_key("p-1")

    plane.work_area_key("p-2")
    workareas.destroy(plane.keys, "p-2")  # the process died before recording it
    assert plane.shred_work_area("p-2") is True
    assert plane.shred_work_area("p-2") is False
    record = events(plane)[-1].details["record"]
    assert (record["project_id"], record["destroyed_now"]) == ("p-2", False)
    assert plane.shred_work_area("p-none") is False and len(events(plane)) == 2


def test_the_shred_list_destroys_a_restored_work_area_key_again(plane, tmp_path):
    plane.work_area_key("p-1")
    backup = tmp_path / "keys-backup"
    shutil.copytree(plane.keys.path, backup)  # a backup taken while the project lived
    plane.shred_work_area("p-1")
    with Session(plane.engine) as s:
        shred_list = shredlist.export(s)
    assert [e["record"]["format"] for e in shred_list["entries"]] == [workareas.RECORD_FORMAT]

    restored = LocalKeyStore(backup, kek_path=plane.keys.path / "kek.key")
    assert restored.exists(workareas.key_name("p-1"))  # the danger: the key is back
    forged = {**shred_list, "entries": [{**shred_list["entries"][0], "record": {
        **shred_list["entries"][0]["record"], "project_id": "p-other"}}]}
    with pytest.raises(shredlist.ShredListError, match="does not verify"):
        shredlist.apply(forged, plane.signing.public_key, restored, store=None)

    [done] = shredlist.apply(shred_list, plane.signing.public_key, restored, store=None)
    assert (done["project_id"], done["destroyed_now"]) == ("p-1", True)
    with pytest.raises(KeyDestroyed):
        restored.unwrap(workareas.key_name("p-1"))
    [again] = shredlist.apply(shred_list, plane.signing.public_key, restored, store=None)
    assert again["destroyed_now"] is False
