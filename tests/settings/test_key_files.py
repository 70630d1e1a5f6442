"""The platform's key files (spe/dataplane/config.py): made once by the operator, each
mounted only in the processes that use it, refused when too short or of the wrong type, and
in production refused when missing rather than created."""

import dataclasses
import json
import re
import stat

import pytest
from sqlalchemy import create_engine

from controllers.controller import build
from spe.crypto.secretbox import SecretBox
from spe.dataplane.config import (
    KEY_SETTINGS,
    KEY_USERS,
    KeyPaths,
    MissingSecret,
    create_key_files,
    grant_key,
    key_store,
    master_secret,
    require_key_files,
    signing_key,
)
from spe.settings import Settings
from spe.web import create_app
from tests.settings.conftest import PRODUCTION

FILES = {"secrets.key", "hub-oidc-key.json", "audit-ed25519.pem", "audit-ed25519.pub.pem",
         "release-ed25519.pem", "extract-ed25519.pem", "extract-grant.key", "kek.key",
         "pseudonymisation.key"}


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
    require_key_files(settings, "api")
    require_key_files(settings, "controller")
    assert len(grant_key(settings)) == 32 and len(master_secret(settings)) >= 32
    assert signing_key(settings).key_id
    store = key_store(Settings(_env_file=None, **PRODUCTION, keys_dir=tmp_path / "keys",
                               key_store_path=tmp_path / "data-keys"))
    assert store.create_data_key("p-1").plaintext
    SecretBox.load_or_create(settings.keys.files.secret_box).seal("x")
    assert {p.name for p in (tmp_path / "keys").iterdir()} == FILES


@pytest.mark.parametrize("name", sorted(KEY_SETTINGS))
def test_production_names_the_missing_file_and_its_setting(tmp_path, name):
    create_key_files(tmp_path / "keys")
    settings = production(tmp_path / "keys")
    missing = getattr(settings.keys.files, name)
    missing.unlink()
    process = sorted(KEY_USERS[name])[0]
    with pytest.raises(MissingSecret) as refused:
        require_key_files(settings, process)
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
    require_key_files(settings, "controller")
    assert settings.keys.files == dataclasses.replace(
        KeyPaths.in_directory(tmp_path / "keys"), kek=tmp_path / "kek")


def test_the_api_and_the_controller_refuse_to_start_without_the_keys(tmp_path):
    settings = production(tmp_path / "keys")
    engine = create_engine("sqlite://")
    with pytest.raises(MissingSecret, match=re.escape("secrets.key (SPE_KEYS_DIR)")):
        create_app(settings, engine)
    with pytest.raises(MissingSecret, match=re.escape("pseudonymisation.key (SPE_PSEUD")):
        build(settings, engine)
    assert not (tmp_path / "keys").exists()


def test_each_process_needs_only_its_own_keys(tmp_path):
    """The API runs without the pseudonymisation secret and the audit signing key, the
    controller without the audit, release and hub keys, the checkpoint signer with the
    audit signing key alone: each pod mounts only what it uses."""
    create_key_files(tmp_path / "keys")
    settings = production(tmp_path / "keys")
    paths = settings.keys.files
    assert {n for n, users in KEY_USERS.items() if users == {"controller"}} == \
        {"pseudonymisation"}
    assert {n for n, users in KEY_USERS.items() if users == {"api"}} == \
        {"hub_oidc", "audit_public", "release_signing"}
    assert {n for n, users in KEY_USERS.items() if "signer" in users} == {"audit_signing"}
    paths.pseudonymisation.unlink()
    paths.audit_signing.unlink()
    require_key_files(settings, "api")
    with pytest.raises(MissingSecret, match=re.escape("audit-ed25519.pem (SPE_AUDIT_SIGN")):
        require_key_files(settings, "signer")
    with pytest.raises(MissingSecret, match="pseudonymisation"):
        require_key_files(settings, "controller")
    create_key_files(tmp_path / "keys")
    for name in ("hub_oidc", "audit_signing", "audit_public", "release_signing"):
        getattr(paths, name).unlink()
    require_key_files(settings, "controller")
    with pytest.raises(MissingSecret, match=re.escape("hub-oidc-key.json")):
        require_key_files(settings, "api")


def short_rsa_jwk() -> bytes:
    import warnings

    from joserfc.jwk import RSAKey

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.dumps(RSAKey.generate_key(1024, private=True).as_dict(private=True)).encode()


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("extract_grant", b"k", "holds 1 bytes; it needs at least 32"),
    ("extract_grant", b"k" * 31, "holds 31 bytes; it needs at least 32"),
    ("pseudonymisation", b"s" * 16, "holds 16 bytes; it needs at least 32"),
    ("kek", b"k" * 33, "holds 33 bytes; it needs exactly 32"),
    ("secret_box", b"not-a-fernet-key", "is not a Fernet key"),
    ("audit_signing", b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
     "is not an unencrypted PEM private key"),
    ("release_signing", b"", "is not an unencrypted PEM private key"),
    ("audit_public", b"not a key", "is not a PEM public key"),
    ("hub_oidc", b"{}", "is not a private RSA JWK"),
    ("hub_oidc", None, "is a 1024-bit RSA key; it needs at least 2048"),
])
@pytest.mark.parametrize("environment", ["production", "development"])
def test_a_short_or_wrong_key_is_refused_at_start_up(tmp_path, name, content, reason,
                                                     environment):
    create_key_files(tmp_path / "keys")
    settings = production(tmp_path / "keys") if environment == "production" else \
        Settings(_env_file=None, keys_dir=tmp_path / "keys")
    path = getattr(settings.keys.files, name)
    path.write_bytes(short_rsa_jwk() if content is None else content)
    for process in KEY_USERS[name]:
        with pytest.raises(MissingSecret) as refused:
            require_key_files(settings, process)
        assert refused.value.message.startswith(f"the key file {path} ({KEY_SETTINGS[name]}) "
                                                f"{reason}")
    start = {"api": lambda: create_app(settings, create_engine("sqlite://")),
             "controller": lambda: build(settings, create_engine("sqlite://")),
             "signer": lambda: require_key_files(settings, "signer")}  # `spe audit signer`
    for process in KEY_USERS[name]:
        with pytest.raises(MissingSecret, match=re.escape(reason)):
            start[process]()


def test_a_one_byte_grant_key_is_refused_where_it_is_used(tmp_path):
    development = Settings(_env_file=None, keys_dir=tmp_path / "dev")
    development.keys.files.extract_grant.parent.mkdir(parents=True)
    development.keys.files.extract_grant.write_bytes(b"k")
    with pytest.raises(MissingSecret, match="holds 1 bytes"):
        grant_key(development)


def test_development_still_creates_keys_on_first_use(tmp_path):
    """First use is the API's start-up, where its composition root reads its keys: those
    it uses, never the controller's pseudonymisation secret nor the audit signing key."""
    app = create_app(Settings(_env_file=None, data_dir=tmp_path), create_engine("sqlite://"))
    box = app.state.platform.secret_box
    assert box.open(box.seal("x")) == "x"
    assert {p.name for p in (tmp_path / "keys").iterdir()} == {
        "secrets.key", "hub-oidc-key.json", "release-ed25519.pem", "extract-ed25519.pem",
        "extract-grant.key", "kek.key", "data-keys"}
