"""Crypto-shredding: the key goes, the objects go, saved copies stay unreadable."""

from __future__ import annotations

import io

import pytest

from spe.data.encryption import WrongKeyError, decrypt_stream
from spe.data.extract import ExtractSource, prepare_extract
from spe.data.reader import read_extract
from spe.data.shred import shred_project
from spe.keys import KeyDestroyed, LocalKeyStore
from spe.storage.layout import extract_prefix
from tests.data.conftest import MASTER_SECRET

PREFIX = extract_prefix("p-1", "e-1")


@pytest.fixture
def extract(store, care_source, data_key, signing_key):
    return prepare_extract(
        store, [ExtractSource("snds-care", care_source, ("nir", "icd10"), ("nir",))],
        permit_reference="PERMIT-1", master_secret=MASTER_SECRET, data_key=data_key,
        prefix=PREFIX, signing_key=signing_key)


def test_shredding_destroys_the_key_and_deletes_the_extracts(store, keys, data_key, extract,
                                                             care_source):
    store.put_bytes("projects/p-1/quarantine/" + "a" * 64, b"an egress file")
    sizes = {info.key: info.size for info in store.list("projects/p-1/extracts/")}

    record = shred_project(store, keys, "p-1")

    assert record["key_id"] == data_key.key_id and record["key_destroyed_now"]
    assert record["object_count"] == 3
    assert {item["key"] for item in record["objects_deleted"]} == set(sizes)
    assert record["bytes_deleted"] == sum(sizes.values())
    assert list(store.list("projects/p-1/extracts/")) == []
    assert store.get_bytes(care_source)  # the source is the data holder's, untouched
    assert [info.key for info in store.list("projects/p-1/")] == [
        "projects/p-1/quarantine/" + "a" * 64]
    with pytest.raises(KeyDestroyed):
        keys.unwrap("p-1")


def test_a_copy_of_the_ciphertext_saved_before_cannot_be_decrypted(
        store, keys, tmp_path, extract, signing_key):
    saved = {info.key: store.get_bytes(info.key) for info in store.list(PREFIX)}

    shred_project(store, keys, "p-1")
    for key, blob in saved.items():  # an attacker restores a backup
        store.put_bytes(key, blob)

    with pytest.raises(KeyDestroyed):
        LocalKeyStore(tmp_path / "keys").unwrap("p-1")
    another = keys.create_data_key("p-2")
    with pytest.raises(WrongKeyError):
        decrypt_stream(io.BytesIO(saved[f"{PREFIX}snds-care.parquet.enc"]), io.BytesIO(),
                       another.plaintext)
    with pytest.raises(WrongKeyError):
        read_extract(store, PREFIX, another, signing_key.public_key,
                     permit_reference="PERMIT-1")


def test_shredding_again_finishes_an_interrupted_run(store, keys, data_key, extract):
    keys.destroy("p-1")  # as if the first run stopped after destroying the key

    record = shred_project(store, keys, "p-1")

    assert record["key_id"] == data_key.key_id
    assert not record["key_destroyed_now"] and record["key_destroyed_at"] is None
    assert record["object_count"] == 3
    assert shred_project(store, keys, "p-1")["object_count"] == 0
