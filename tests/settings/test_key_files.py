"""The platform's key files (spe/dataplane/config.py): made once by the operator, shared by
every process, and in production refused when missing rather than created."""

import dataclasses
import re
import stat

import pytest
from sqlalchemy import create_engine

from controllers.controller import build
from spe.api.app import create_app
from spe.crypto.secretbox import SecretBox
from spe.dataplane.config import (
    KEY_SETTINGS,
    KeyPaths,
    MissingSecret,
    create_key_files,
    grant_key,
    key_paths,
    key_store,
    master_secret,
    require_key_files,
    signing_key,
)
from spe.settings import Settings
from tests.settings.conftest import PRODUCTION

FILES = {"secrets.key", "hub-oidc-key.json", "audit-ed25519.pem", "release-ed25519.pem",
         "extract-ed25519.pem", "extract-grant.key", "kek.key", "pseudonymisation.key"}


def production(keys_dir, **values) -> Settings:
    return Settings(_env_file=None, **PRODUCTION, keys_dir=keys_dir, **values)


def test_create_key_files_makes_every_file_once_private(tmp_path):
    created = create_key_files(tmp_path / "keys")
    assert {p.name for p in created} == FILES and len(KEY_SETTINGS) == len(FILES)
    for path in created:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    before = {p.name: p.read_bytes() for p in created}
    assert create_key_files(tmp_path / "keys") == []  # nothing replaced
    assert {p.name: p.read_bytes() for p in created} == before


def test_production_loads_the_files_and_creates_none(tmp_path):
    create_key_files(tmp_path / "keys")
    settings = production(tmp_path / "keys")
    require_key_files(settings)
    assert len(grant_key(settings)) == 32 and len(master_secret(settings)) >= 32
    assert signing_key(settings).key_id
    store = key_store(Settings(_env_file=None, **PRODUCTION, keys_dir=tmp_path / "keys",
                               key_store_path=tmp_path / "data-keys"))
    assert store.create_data_key("p-1").plaintext
    SecretBox.load_or_create(key_paths(settings).secret_box).seal("x")
    assert {p.name for p in (tmp_path / "keys").iterdir()} == FILES


@pytest.mark.parametrize("name", sorted(KEY_SETTINGS))
def test_production_names_the_missing_file_and_its_setting(tmp_path, name):
    create_key_files(tmp_path / "keys")
    settings = production(tmp_path / "keys")
    missing = getattr(key_paths(settings), name)
    missing.unlink()
    with pytest.raises(MissingSecret) as refused:
        require_key_files(settings)
    assert str(missing) in refused.value.message
    assert KEY_SETTINGS[name] in refused.value.message
    assert not missing.exists()


def test_each_loader_refuses_in_production_and_creates_in_development(tmp_path):
    settings = production(tmp_path / "keys", key_store_path=tmp_path / "data-keys")
    loaders = {"extract_grant": grant_key, "pseudonymisation": master_secret,
               "extract_signing": signing_key, "kek": key_store}
    for name, load in loaders.items():
        with pytest.raises(MissingSecret, match=KEY_SETTINGS[name]):
            load(settings)
    assert not (tmp_path / "keys").exists()
    development = Settings(_env_file=None, keys_dir=tmp_path / "dev",
                           key_store_path=tmp_path / "dev-data-keys")
    for load in loaders.values():
        load(development)
    assert {p.name for p in (tmp_path / "dev").iterdir()} == {
        "extract-grant.key", "pseudonymisation.key", "extract-ed25519.pem", "kek.key"}


def test_files_placed_by_their_own_settings_are_the_ones_required(tmp_path):
    create_key_files(tmp_path / "keys")
    (tmp_path / "keys" / "kek.key").rename(tmp_path / "kek")
    settings = production(tmp_path / "keys", kek_path=tmp_path / "kek")
    require_key_files(settings)
    assert key_paths(settings) == dataclasses.replace(
        KeyPaths.in_directory(tmp_path / "keys"), kek=tmp_path / "kek")


def test_the_api_and_the_controller_refuse_to_start_without_the_keys(tmp_path):
    settings = production(tmp_path / "keys")
    engine = create_engine("sqlite://")
    with pytest.raises(MissingSecret, match=re.escape("secrets.key (SPE_KEYS_DIR)")):
        create_app(settings, engine)
    with pytest.raises(MissingSecret, match=re.escape("hub-oidc-key.json (SPE_KEYS_DIR)")):
        build(settings, engine)
    assert not (tmp_path / "keys").exists()


def test_development_still_creates_keys_on_first_use(tmp_path):
    app = create_app(Settings(_env_file=None, data_dir=tmp_path), create_engine("sqlite://"))
    assert app.state.secret_box.open(app.state.secret_box.seal("x")) == "x"
    assert {p.name for p in (tmp_path / "keys").iterdir()} == {"secrets.key",
                                                               "hub-oidc-key.json"}
