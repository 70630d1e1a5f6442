"""The production deployment's settings: where the keys are, the cluster, the reference."""

from pathlib import Path

import pytest

from spe.cli.reference import reference_markdown
from spe.settings import Settings


def test_keys_live_under_the_data_dir_unless_placed_elsewhere(clean_env):
    assert Settings(_env_file=None).keys_dir == Path(".spe/keys")
    assert Settings(_env_file=None, data_dir=Path("/srv/spe")).keys_dir == Path("/srv/spe/keys")
    clean_env.setenv("SPE_DATA_DIR", "/var/lib/spe")
    clean_env.setenv("SPE_KEYS_DIR", "/var/run/spe/keys")
    settings = Settings(_env_file=None)
    assert settings.keys_dir == Path("/var/run/spe/keys")
    assert settings.resolved_audit_signing_key_path == Path("/var/run/spe/keys/audit-ed25519.pem")


def test_kubernetes_lists_and_maps_are_json(clean_env):
    clean_env.setenv("SPE_KUBERNETES_API_SERVER_CIDRS", '["10.96.0.1/32", "172.18.0.2/32"]')
    clean_env.setenv("SPE_KUBERNETES_INGRESS_POD_LABELS", '{"app": "traefik"}')
    clean_env.setenv("SPE_KUBERNETES_LEASE_NAME", "spe-leader")
    settings = Settings(_env_file=None)
    assert settings.kubernetes_api_server_cidrs == ["10.96.0.1/32", "172.18.0.2/32"]
    assert settings.kubernetes_ingress_pod_labels == {"app": "traefik"}
    assert settings.kubernetes_lease_name == "spe-leader"
    clean_env.setenv("SPE_KUBERNETES_API_SERVER_CIDRS", "10.96.0.1/32,172.18.0.2/32")
    with pytest.raises(ValueError, match="kubernetes_api_server_cidrs"):
        Settings(_env_file=None)  # what the chart used to render


def test_the_reference_lists_every_new_setting_with_its_default():
    reference = reference_markdown()
    for line in ("| `SPE_KUBERNETES_INGRESS_CLASS` | `nginx` |",
                 "| `SPE_KUBERNETES_LEASE_NAME` | `spe-controller` |",
                 "| `SPE_KEYS_DIR` | (derived) |"):
        assert line in reference
    assert "PydanticUndefined" not in reference
    assert "`<data_dir>/keys`" in reference


SECTIONS = ("api", "database", "telemetry", "auth", "audit", "permits", "egress", "storage",
            "keys", "extracts", "controller", "kubernetes", "usage")


def test_each_area_reads_its_section_from_the_same_variables(clean_env, tmp_path):
    clean_env.setenv("SPE_DATA_DIR", str(tmp_path))
    clean_env.setenv("SPE_STORAGE_BUCKET", "spe-objects")
    clean_env.setenv("SPE_KEY_STORE_PATH", str(tmp_path / "wrapped"))
    clean_env.setenv("SPE_PERMITS_REQUIRE_SIGNATURE", "true")
    clean_env.setenv("SPE_CONTROLLER_HEALTH_PORT", "8081")
    clean_env.setenv("SPE_KUBERNETES_TLS_SECRET", "")  # the chart's "unset"
    clean_env.setenv("SPE_USAGE_PUE", "1.2")
    settings = Settings(_env_file=None)
    assert settings.storage.bucket == "spe-objects"
    assert settings.storage.local_root == tmp_path / "objects"  # the derived default
    assert settings.keys.store_path == tmp_path / "wrapped"
    assert settings.keys.files.kek == tmp_path / "keys" / "kek.key"
    assert settings.permits.require_signature is True
    assert settings.controller.health_port == 8081
    assert settings.controller.local_runtime_root == tmp_path / "workspaces"
    assert settings.kubernetes.tls_secret is None
    assert settings.usage.pue == 1.2
    assert settings.database.url == f"sqlite:///{tmp_path / 'spe.db'}"
    assert settings.database.admin_url == settings.database.url


def test_every_section_builds_and_follows_a_changed_copy(clean_env):
    settings = Settings(_env_file=None)
    for name in SECTIONS:
        section = getattr(settings, name)
        assert section.model_fields_set == set(type(section).model_fields)  # all read
    changed = settings.model_copy(update={"audit_anonymous_denials_per_minute": 5,
                                          "public_url": "https://spe.example"})
    assert changed.audit.anonymous_denials_per_minute == 5
    assert changed.api.public_url == "https://spe.example"
    assert settings.audit.anonymous_denials_per_minute == 60


def test_the_checkpoint_signer_connects_with_its_own_url_and_needs_no_other(clean_env):
    """Its pod has only SPE_AUDIT_SIGNER_DATABASE_URL; a process given only that one is
    refused the application's database, never handed SQLite instead."""
    production = {"environment": "production", "secure_cookies": True}
    signer = Settings(_env_file=None, **production,
                      audit_signer_database_url="postgresql+psycopg://spe_signer@db/spe")
    assert signer.audit.signer_database_url == "postgresql+psycopg://spe_signer@db/spe"
    with pytest.raises(ValueError, match="production needs SPE_DATABASE_URL"):
        signer.database  # noqa: B018
    app = Settings(_env_file=None, **production,
                   database_url="postgresql+psycopg://spe_app@db/spe")
    assert app.audit.signer_database_url == app.database.url  # the default: the same
    for urls in ({}, {"audit_signer_database_url": "sqlite:///signer.db"},
                 {"database_url": "postgresql+psycopg://spe_app@db/spe",
                  "audit_signer_database_url": "sqlite:///signer.db"}):
        with pytest.raises(ValueError, match="pointing at PostgreSQL"):
            Settings(_env_file=None, **production, **urls)
