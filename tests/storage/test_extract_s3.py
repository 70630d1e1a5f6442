"""An extract made from an uploaded source on the real S3 server, read back, then shredded."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from minio import Minio

from spe.crypto.signing import SigningKey
from spe.data.encryption import DecryptingReader, WrongKeyError
from spe.data.extract import ExtractSource, prepare_extract
from spe.data.manifest import load_manifest
from spe.data.sources import upload_source
from spe.keys.base import KeyDestroyed
from spe.keys.local import LocalKeyStore
from spe.storage import layout

VARIABLES = [
    {"name": "nir", "type": "string", "classification": "direct_identifier"},
    {"name": "age", "type": "integer", "classification": "quasi_identifier"},
    {"name": "dept", "type": "string", "classification": "quasi_identifier"},
    {"name": "cost", "type": "number", "classification": "sensitive"},
]
SOURCE = pa.table({"nir": ["1840175123456", "2750275654321", "1840175123456"],
                   "age": [42, 67, 42], "dept": ["75", "13", "75"], "cost": [1.5, 2.0, 3.0]})


def _read(store, key: str, plaintext: bytes) -> pa.Table:
    with store.open(key) as ciphertext:
        return pq.read_table(io.BytesIO(DecryptingReader(ciphertext, plaintext).read()))


@pytest.fixture
def extract(s3_server, tmp_path):
    store = s3_server.new_store(versioning=True)
    sink = io.BytesIO()
    pq.write_table(SOURCE, sink)
    sink.seek(0)
    source = upload_source(store, "cohort", "2024.parquet", sink, VARIABLES, "parquet")
    keys = LocalKeyStore(tmp_path / "keys")
    data_key = keys.create_data_key("p-1")
    signing = SigningKey.load_or_create(tmp_path / "signing.pem")
    prefix = layout.extract_prefix("p-1", "e-1")
    manifest = prepare_extract(
        store, [ExtractSource("cohort", source.key, ("nir", "age", "cost"), ("nir",))],
        permit_reference="permit-1", master_secret=b"m" * 32, data_key=data_key,
        prefix=prefix, signing_key=signing)
    return store, keys, signing, prefix, manifest


def test_extract_round_trip_on_s3(extract):
    store, keys, signing, prefix, manifest = extract

    assert load_manifest(store, prefix, signing.public_key, permit_reference="permit-1",
                         key_id=manifest["key_id"]) == manifest
    [entry] = manifest["files"]
    assert entry["object_key"].startswith(layout.project_prefix("p-1"))
    assert store.stat(entry["object_key"]).size == entry["size"]

    table = _read(store, entry["object_key"], keys.unwrap("p-1").plaintext)
    assert table.column_names == ["nir", "age", "cost"]  # dept was not permitted
    rows = sorted(zip(table["age"].to_pylist(), table["nir"].to_pylist(), strict=True))
    assert [age for age, _ in rows] == [42, 42, 67]  # the rows, in the extract's own order
    pseudonyms = [nir for _, nir in rows]
    assert "1840175123456" not in pseudonyms
    assert pseudonyms[0] == pseudonyms[1] != pseudonyms[2]


def test_crypto_shredding_leaves_the_extract_unreadable(extract, s3_server):
    store, keys, _, _, manifest = extract
    [entry] = manifest["files"]
    ciphertext = store.get_bytes(entry["object_key"])

    keys.destroy("p-1")

    with pytest.raises(KeyDestroyed):
        keys.unwrap("p-1")
    with pytest.raises(WrongKeyError):  # a copy kept elsewhere opens under no other key
        DecryptingReader(io.BytesIO(ciphertext), keys.create_data_key("p-2").plaintext)
    assert b"1840175123456" not in ciphertext

    assert store.delete_prefix(layout.project_prefix("p-1")) == 3  # file, manifest, signature
    client = Minio(s3_server.endpoint, s3_server.access_key, s3_server.secret_key,
                   region=s3_server.region, secure=False)
    versions = client.list_objects(store.bucket, recursive=True, include_version=True)
    assert [v.object_name for v in versions] == ["sources/cohort/2024.parquet"]
