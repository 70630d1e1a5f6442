"""``ClusterSettings`` come from ``Settings`` only (controllers/runtimes/kubernetes/settings)."""

import pytest

from controllers.runtimes.kubernetes.settings import SettingsError, from_settings
from spe.settings import Settings

CLUSTER = {"kubernetes_api_server_cidrs": ["10.96.0.1/32"],
           "kubernetes_ingress_domain": "ws.example.org"}


def test_every_cluster_setting_is_carried_over():
    cluster = from_settings(Settings(
        _env_file=None, **CLUSTER, port=8443, kubernetes_ingress_class="traefik",
        kubernetes_tls_secret="wildcard", kubernetes_storage_class="ceph-rbd",
        kubernetes_namespace_prefix="tre-",
        kubernetes_control_plane_namespace="spe-system",
        kubernetes_control_plane_cidr="192.0.2.10/32",
        kubernetes_ingress_namespace="traefik",
        kubernetes_ingress_pod_labels={"app": "traefik"}))
    assert cluster.api_server_cidrs == ("10.96.0.1/32",)
    assert cluster.host("p-1") == "p-1.ws.example.org"
    assert cluster.namespace("p-1") == "tre-p-1"
    assert (cluster.ingress_class, cluster.tls_secret, cluster.storage_class) == (
        "traefik", "wildcard", "ceph-rbd")
    assert cluster.control_plane_namespace == "spe-system"
    assert cluster.control_plane_port == 8443  # where `spe serve` listens
    assert cluster.control_plane_cidr == "192.0.2.10/32"
    assert (cluster.ingress_namespace, cluster.ingress_pod_labels) == ("traefik",
                                                                       {"app": "traefik"})


def test_empty_strings_mean_the_clusters_defaults():
    """The chart renders an unset TLS Secret or storage class as ``""``."""
    cluster = from_settings(Settings(_env_file=None, **CLUSTER, kubernetes_tls_secret="",
                                     kubernetes_storage_class="",
                                     kubernetes_control_plane_cidr=""))
    assert cluster.tls_secret is None and cluster.storage_class is None
    assert cluster.control_plane_cidr is None


@pytest.mark.parametrize(("missing", "named"), [
    ("kubernetes_ingress_domain", "SPE_KUBERNETES_INGRESS_DOMAIN"),
    ("kubernetes_api_server_cidrs", "SPE_KUBERNETES_API_SERVER_CIDRS"),
])
def test_missing_cluster_settings_are_named(missing, named):
    values = {k: v for k, v in CLUSTER.items() if k != missing}
    with pytest.raises(SettingsError, match=named):
        from_settings(Settings(_env_file=None, **values))


def test_wide_cidrs_are_still_refused():
    with pytest.raises(SettingsError, match="wider"):
        from_settings(Settings(_env_file=None, **{**CLUSTER,
                                                  "kubernetes_api_server_cidrs": ["0.0.0.0/0"]}))
