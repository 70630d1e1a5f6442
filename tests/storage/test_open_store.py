"""StorageConfig and open_store: choosing and configuring the backend."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spe.storage import StorageConfig, StorageError, open_store, resolved_secret_key
from spe.storage.s3 import S3ObjectStore

S3 = {"backend": "s3", "endpoint": "s3.example.org:9000", "bucket": "spe", "access_key": "AK"}


def test_s3_needs_endpoint_bucket_and_credentials():
    with pytest.raises(ValidationError, match="endpoint, bucket, access_key, secret_key or"):
        StorageConfig(backend="s3")


def test_local_needs_a_root():
    with pytest.raises(ValidationError, match="local_root"):
        StorageConfig(backend="local")


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValidationError, match="backend"):
        StorageConfig(backend="gcs", local_root="/x")


@pytest.mark.parametrize("endpoint", ["https://s3.example.org", "s3.example.org/bucket"])
def test_endpoint_is_host_and_port_only(endpoint):
    with pytest.raises(ValidationError, match="host\\[:port\\]"):
        StorageConfig(**{**S3, "endpoint": endpoint, "secret_key": "s"})


def test_tls_and_certificate_checks_are_on_by_default():
    config = StorageConfig(**S3, secret_key="s")
    assert config.secure and config.cert_check


def test_the_secret_never_shows_in_the_config():
    config = StorageConfig(**S3, secret_key="very-secret-value")
    assert "very-secret-value" not in repr(config)
    assert "very-secret-value" not in config.model_dump_json()


def test_a_mounted_secret_file_wins_over_the_inline_secret(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("from-file\n")
    config = StorageConfig(**S3, secret_key="from-env", secret_key_file=secret)
    assert resolved_secret_key(config) == "from-file"
    assert resolved_secret_key(StorageConfig(**S3, secret_key="from-env")) == "from-env"


def test_an_unreadable_secret_file_is_a_storage_error(tmp_path):
    config = StorageConfig(**S3, secret_key_file=tmp_path / "absent")
    with pytest.raises(StorageError, match="cannot read secret_key_file"):
        open_store(config)


def test_open_store_gives_a_working_s3_store(s3_server, s3_store, tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text(s3_server.secret_key)
    store = open_store(StorageConfig(
        backend="s3", endpoint=s3_server.endpoint, region=s3_server.region,
        bucket=s3_store.bucket, access_key=s3_server.access_key,
        secret_key="wrong", secret_key_file=secret, secure=False))

    assert isinstance(store, S3ObjectStore)
    store.put_bytes("k", b"v")
    assert s3_store.get_bytes("k") == b"v"


def test_open_store_gives_a_local_store_by_default(tmp_path):
    from spe.storage.local import LocalObjectStore

    store = open_store(StorageConfig(local_root=tmp_path))

    assert isinstance(store, LocalObjectStore)
    store.put_bytes("sources/d/f.csv", b"a\n1\n")
    assert store.read_range("sources/d/f.csv", 2, 10) == b"1\n"
    assert store.copy("sources/d/f.csv", "sources/d/g.csv").size == 4
