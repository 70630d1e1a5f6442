"""LocalKeyStore: data keys wrapped under a local KEK, destroyed for good."""

from __future__ import annotations

import json
import stat

import pytest

from spe.keys import (
    DataKey,
    KekMismatch,
    KeyDestroyed,
    KeyExists,
    KeyNotFound,
    KeyStoreError,
    LocalKeyStore,
)
from spe.storage.layout import InvalidKeyComponent


@pytest.fixture
def keys(tmp_path):
    return LocalKeyStore(tmp_path / "keys")


def test_the_kek_file_is_created_private(tmp_path):
    LocalKeyStore(tmp_path / "keys")
    kek = tmp_path / "keys" / "kek.key"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert len(kek.read_bytes()) == 32


def test_a_created_key_unwraps_to_the_same_bytes_in_a_new_store(tmp_path, keys):
    created = keys.create_data_key("p-1")

    again = LocalKeyStore(tmp_path / "keys").unwrap("p-1")

    assert again == created
    assert len(created.plaintext) == 32
    assert keys.exists("p-1") and not keys.exists("p-2")


def test_the_plaintext_never_reaches_the_disk_or_the_repr(tmp_path, keys):
    created = keys.create_data_key("p-1")
    for path in (tmp_path / "keys").rglob("*"):
        if path.is_file() and path.name != "kek.key":
            assert created.plaintext not in path.read_bytes()
    assert created.plaintext.hex() not in repr(created)
    assert "plaintext" not in repr(created)


def test_one_key_per_project(keys):
    first = keys.create_data_key("p-1")
    with pytest.raises(KeyExists):
        keys.create_data_key("p-1")
    assert keys.create_data_key("p-2").plaintext != first.plaintext
    assert keys.unwrap("p-1") == first


def test_unknown_projects_have_no_key(keys):
    with pytest.raises(KeyNotFound):
        keys.unwrap("p-1")
    with pytest.raises(KeyNotFound):
        keys.destroy("p-1")


def test_a_destroyed_key_is_gone_for_good(tmp_path, keys):
    created = keys.create_data_key("p-1")
    wrapped_file = tmp_path / "keys" / "projects" / "p-1.json"
    saved = wrapped_file.read_bytes()

    assert keys.destroy("p-1") == created.key_id

    assert not keys.exists("p-1")
    with pytest.raises(KeyDestroyed) as refused:
        keys.unwrap("p-1")
    assert refused.value.key_id == created.key_id
    with pytest.raises(KeyDestroyed):
        keys.create_data_key("p-1")
    with pytest.raises(KeyDestroyed):
        keys.destroy("p-1")
    assert not wrapped_file.exists()
    # a copy of the wrapped key saved before does not bring it back
    wrapped_file.write_bytes(saved)
    with pytest.raises(KeyDestroyed):
        LocalKeyStore(tmp_path / "keys").unwrap("p-1")


def test_an_interrupted_destruction_is_finished_on_retry(tmp_path, keys):
    keys.create_data_key("p-1")
    projects = tmp_path / "keys" / "projects"
    keys.destroy("p-1")
    (projects / "p-1.json").write_text("{}")  # as if the crash came before the wipe

    with pytest.raises(KeyDestroyed):
        keys.destroy("p-1")
    assert not (projects / "p-1.json").exists()


def test_another_kek_cannot_unwrap(tmp_path, keys):
    keys.create_data_key("p-1")
    other = LocalKeyStore(tmp_path / "keys", kek_path=tmp_path / "other.kek")
    with pytest.raises(KekMismatch, match="wrapped under KEK"):
        other.unwrap("p-1")


def test_a_wrapped_key_moved_to_another_project_does_not_open(tmp_path, keys):
    keys.create_data_key("p-1")
    projects = tmp_path / "keys" / "projects"
    record = json.loads((projects / "p-1.json").read_text())
    (projects / "p-2.json").write_text(json.dumps({**record, "project_id": "p-2"}))

    with pytest.raises(KekMismatch, match="altered or wrapped elsewhere"):
        keys.unwrap("p-2")
    (projects / "p-3.json").write_text(json.dumps(record))
    with pytest.raises(KeyStoreError, match="for that project"):
        keys.unwrap("p-3")


def test_a_kek_file_of_the_wrong_size_is_refused(tmp_path):
    (tmp_path / "kek").write_bytes(b"short")
    with pytest.raises(KeyStoreError, match="holds 5 bytes"):
        LocalKeyStore(tmp_path / "keys", kek_path=tmp_path / "kek")


@pytest.mark.parametrize("project_id", ["../p", "a/b", "", ".x"])
def test_project_ids_cannot_escape_the_directory(keys, project_id):
    with pytest.raises(InvalidKeyComponent):
        keys.create_data_key(project_id)


def test_a_data_key_is_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey("dk", b"x" * 16)
