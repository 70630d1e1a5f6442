"""Fixtures of the data plane: a local object store with a synthetic source, keys."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spe.crypto.signing import SigningKey
from spe.data import synth
from spe.keys import LocalKeyStore

CARE_ROWS = 20_000
MASTER_SECRET = b"m" * 32


@pytest.fixture
def keys(tmp_path):
    return LocalKeyStore(tmp_path / "keys")


@pytest.fixture
def data_key(keys):
    return keys.create_data_key("p-1")


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory):
    return SigningKey.load_or_create(tmp_path_factory.mktemp("signing") / "extract.pem")


@pytest.fixture(scope="session")
def care_table() -> pa.Table:
    return pa.Table.from_batches(list(synth.care(CARE_ROWS, seed=7, batch_rows=5_000)))


def put_parquet(store, key: str, table: pa.Table, row_group_size: int = 5_000) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    store.put_bytes(key, buffer.getvalue())


@pytest.fixture
def care_source(store, care_table) -> str:
    key = "sources/snds-care/2023.parquet"
    put_parquet(store, key, care_table)
    return key
