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
