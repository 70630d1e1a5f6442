"""Key stores: data keys wrapped (under a local KEK, or by a per-project key inside an HSM
through PKCS#11, on SoftHSM2), one per project, destroyed for good. The contract runs on
both; what only one of them does is tested apart."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable

import pkcs11
import pytest

from spe.keys import (
    DataKey,
    KekMismatch,
    KeyDestroyed,
    KeyExists,
    KeyNotFound,
    KeyStore,
    KeyStoreError,
    LocalKeyStore,
)
from spe.keys.pkcs11 import Pkcs11KeyStore
from spe.storage.layout import InvalidKeyComponent


@pytest.fixture(params=["local", "pkcs11"])
def opener(request, tmp_path) -> Callable[[], KeyStore]:
    """Opens the store kind under test on the same directory (and token), as a new process
    would."""
    if request.param == "local":
        return lambda: LocalKeyStore(tmp_path / "keys")
    token = request.getfixturevalue("softhsm_token")
    return lambda: Pkcs11KeyStore(tmp_path / "keys", token.library, token.label, token.pin)


@pytest.fixture
def keys(opener):
    return opener()


def test_the_kek_file_is_created_private(tmp_path):
    LocalKeyStore(tmp_path / "keys")
    kek = tmp_path / "keys" / "kek.key"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert len(kek.read_bytes()) == 32


def test_a_created_key_unwraps_to_the_same_bytes_in_a_new_store(opener, keys):
    created = keys.create_data_key("p-1")

    again = opener().unwrap("p-1")

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
        keys.unwrap("p-1")


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


# --- what only the HSM store does -------------------------------------------------------

def hsm_keys(session):
    from pkcs11 import ObjectClass

    return {k.label: k for k in session.get_objects({pkcs11.Attribute.CLASS:
                                                      ObjectClass.SECRET_KEY})}


@pytest.fixture
def hsm(softhsm_token, tmp_path):
    store = Pkcs11KeyStore(tmp_path / "keys", softhsm_token.library, softhsm_token.label,
                           softhsm_token.pin)
    token = pkcs11.lib(str(softhsm_token.library)).get_token(token_label=softhsm_token.label)
    return store, token, softhsm_token


def test_each_projects_key_lives_in_the_hsm_sensitive_and_not_extractable(hsm):
    store, token, secret = hsm
    created = store.create_data_key("p-hsm-1")
    with token.open(user_pin=secret.pin) as session:
        key = hsm_keys(session)[f"spe:p-hsm-1:{created.key_id}"]
        assert key[pkcs11.Attribute.SENSITIVE] is True
        assert key[pkcs11.Attribute.EXTRACTABLE] is False
        assert key.key_length == 256
    assert secret.pin not in repr(store)


def test_a_restored_backup_does_not_bring_a_shredded_key_back(hsm, tmp_path):
    """The point of an HSM: restore the whole key directory as it was before destruction
    (wrapped file back, tombstone gone): the local store opens it again, the HSM does not."""
    store, token, secret = hsm
    created = store.create_data_key("p-hsm-2")
    backup = tmp_path / "backup"
    shutil.copytree(store.path, backup)
    store.destroy("p-hsm-2")
    with token.open(user_pin=secret.pin) as session:
        assert f"spe:p-hsm-2:{created.key_id}" not in hsm_keys(session)
    shutil.rmtree(store.path)
    shutil.copytree(backup, store.path)
    with pytest.raises(KekMismatch, match="destroyed there"):
        store.unwrap("p-hsm-2")

    local = LocalKeyStore(tmp_path / "local")  # the same restore with a KEK file
    kept = local.create_data_key("p-1")
    shutil.copytree(local.path, tmp_path / "local-backup")
    local.destroy("p-1")
    shutil.rmtree(local.path)
    shutil.copytree(tmp_path / "local-backup", local.path)
    assert LocalKeyStore(tmp_path / "local").unwrap("p-1") == kept


def test_another_token_or_a_wrong_pin_cannot_open(hsm, tmp_path):
    store, _, secret = hsm
    store.create_data_key("p-hsm-3")
    projects = store.path / "projects"
    record = json.loads((projects / "p-hsm-3.json").read_text())
    (projects / "p-hsm-4.json").write_text(json.dumps(
        {**record, "project_id": "p-hsm-4", "kek_id": "pkcs11:another-token/x"}))
    with pytest.raises(KekMismatch, match="not by HSM token"):
        store.unwrap("p-hsm-4")
    with pytest.raises(KekMismatch, match="wrapped under KEK"):
        LocalKeyStore(store.path).unwrap("p-hsm-3")
    wrong = Pkcs11KeyStore(store.path, secret.library, secret.label, "0000")
    with pytest.raises(KeyStoreError, match="refused: PinIncorrect"):
        wrong.unwrap("p-hsm-3")
    with pytest.raises(KeyStoreError, match="no PKCS#11 token 'nope'"):
        Pkcs11KeyStore(tmp_path / "k", secret.library, "nope", secret.pin)


def test_an_edited_label_does_not_destroy_another_projects_key(hsm):
    """The wrapped-key file of p-hsm-5 is edited to name p-hsm-6's HSM key: destroying
    p-hsm-5 is refused loudly, p-hsm-6's key survives, and p-hsm-5 is not recorded destroyed."""
    store, token, secret = hsm
    victim = store.create_data_key("p-hsm-6")
    store.create_data_key("p-hsm-5")
    projects = store.path / "projects"
    record = json.loads((projects / "p-hsm-5.json").read_text())
    other = json.loads((projects / "p-hsm-6.json").read_text())
    (projects / "p-hsm-5.json").write_text(json.dumps({**record, "kek_id": other["kek_id"]}))

    with pytest.raises(KekMismatch, match=r"names HSM key .* not its own"):
        store.destroy("p-hsm-5")
    with pytest.raises(KekMismatch, match="not its own"):
        store.unwrap("p-hsm-5")

    assert store.unwrap("p-hsm-6") == victim
    assert store.exists("p-hsm-5") and not (projects / "p-hsm-5.destroyed").exists()
    with token.open(user_pin=secret.pin) as session:
        assert f"spe:p-hsm-5:{record['key_id']}" in hsm_keys(session)


@pytest.mark.parametrize("corrupt", [
    b"not json", b"{}", b'{"format": "spe-wrapped-key/v1", "project_id": "p-hsm-7"}'])
def test_a_corrupt_wrapped_key_file_fails_the_shred_loudly(hsm, tmp_path, corrupt):
    from spe.data import shred_project
    from spe.storage.local import LocalObjectStore

    store, _, _ = hsm
    store.create_data_key("p-hsm-7")
    objects = LocalObjectStore(tmp_path / "objects")
    objects.put_bytes("projects/p-hsm-7/extracts/x/a.parquet.enc", b"sealed")
    (store.path / "projects" / "p-hsm-7.json").write_bytes(corrupt)

    with pytest.raises(KeyStoreError, match="wrapped key file of project p-hsm-7"):
        shred_project(objects, store, "p-hsm-7")
    assert not (store.path / "projects" / "p-hsm-7.destroyed").exists()
    assert [i.key for i in objects.list("projects/")] == [
        "projects/p-hsm-7/extracts/x/a.parquet.enc"]


def test_a_key_missing_from_the_hsm_is_not_recorded_destroyed(hsm):
    store, token, secret = hsm
    created = store.create_data_key("p-hsm-8")
    with token.open(user_pin=secret.pin, rw=True) as session:
        hsm_keys(session)[f"spe:p-hsm-8:{created.key_id}"].destroy()  # out of band

    with pytest.raises(KeyStoreError, match=r"holds no key .* nothing was"):
        store.destroy("p-hsm-8")
    assert not (store.path / "projects" / "p-hsm-8.destroyed").exists()


def test_shred_records_name_the_key_store_and_its_assurance(hsm, tmp_path):
    from spe.data import shred_project
    from spe.storage.local import LocalObjectStore

    store, _, secret = hsm
    objects = LocalObjectStore(tmp_path / "objects")
    store.create_data_key("p-hsm-9")
    assert shred_project(objects, store, "p-hsm-9")["keystore"] == {
        "type": "pkcs11", "hsm": secret.label, "assurance": "hardware"}
    local = LocalKeyStore(tmp_path / "local")
    local.create_data_key("p-1")
    assert shred_project(objects, local, "p-1")["keystore"] == {
        "type": "local", "kek_id": local.kek_id, "assurance": "software"}
