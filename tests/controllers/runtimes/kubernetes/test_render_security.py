"""Security properties of the rendered workspace, checked on the objects themselves."""

import dataclasses
import ipaddress

import pytest

from controllers.runtimes.kubernetes.render import render
from controllers.runtimes.kubernetes.settings import ClusterSettings, SettingsError
from testsupport.restricted import restricted_violations


def policies(objects):
    return {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}


def peers(policy_spec, direction):
    side = "to" if direction == "egress" else "from"
    return [peer for rule in policy_spec.get(direction, []) for peer in rule[side]]


def test_default_deny_covers_every_pod_both_ways(spec, cluster):
    deny = policies(render(spec, cluster))["default-deny"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny


def test_every_rule_names_its_peers(spec, cluster):
    """A rule without peers, or a peer with an empty selector, would open the door wide."""
    for name, policy in policies(render(spec, cluster)).items():
        for direction, side in (("egress", "to"), ("ingress", "from")):
            for rule in policy.get(direction, []):
                assert rule.get(side), f"{name}: {direction} rule open to everyone"
                assert rule.get("ports"), f"{name}: {direction} rule on every port"
                for peer in rule[side]:
                    if "namespaceSelector" in peer:
                        # namespace AND pods in one peer; alone it would admit a whole namespace
                        assert peer["namespaceSelector"]["matchLabels"], name
                        assert peer["podSelector"]["matchLabels"], name
                    elif "podSelector" in peer:
                        assert peer["podSelector"]["matchLabels"], name


@pytest.mark.parametrize("control_plane_cidr", [None, "10.20.0.0/24"])
def test_no_egress_wider_than_the_control_plane(spec, cluster, control_plane_cidr):
    cluster = dataclasses.replace(cluster, control_plane_cidr=control_plane_cidr)
    widest = ipaddress.ip_network(control_plane_cidr or "10.20.0.0/24").prefixlen
    blocks = [peer["ipBlock"] for policy in policies(render(spec, cluster)).values()
              for peer in peers(policy, "egress") + peers(policy, "ingress")
              if "ipBlock" in peer]
    assert blocks
    for block in blocks:
        network = ipaddress.ip_network(block["cidr"])
        assert network.prefixlen >= widest, block
        assert network != ipaddress.ip_network("0.0.0.0/0")
        assert "except" not in block


def test_dns_is_allowed_to_kube_dns_only(spec, cluster):
    dns = policies(render(spec, cluster))["allow-dns"]
    assert dns["podSelector"] == {} and dns["policyTypes"] == ["Egress"]
    [rule] = dns["egress"]
    assert rule["to"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53),
                                                                          ("UDP", 53)]


def test_hub_is_reached_by_the_ingress_controller_and_servers_only(spec, cluster):
    hub = policies(render(spec, cluster))["hub"]
    assert hub["podSelector"]["matchLabels"] == {"spe.io/project": spec.project_id,
                                                 "spe.io/component": "hub"}
    ingress = {(tuple(sorted(p["port"] for p in rule["ports"])),
                str(rule["from"])) for rule in hub["ingress"]}
    assert ingress == {
        ((8000,), str([{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "ingress-nginx"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}}])),
        ((8081,), str([{"podSelector": {"matchLabels": {"component": "singleuser-server"}}}])),
    }


def test_egress_goes_to_the_hub_servers_control_plane_and_api_only(spec, cluster):
    rendered = policies(render(spec, cluster))
    control_plane = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "spe"}},
                     "podSelector": {"matchLabels": cluster.control_plane_pod_labels}}
    hub_egress = peers(rendered["hub"], "egress")
    assert control_plane in hub_egress
    assert {"ipBlock": {"cidr": "10.96.0.1/32"}} in hub_egress
    assert len(hub_egress) == 4  # servers, control plane, two API endpoints
    server_egress = peers(rendered["user-servers"], "egress")
    assert server_egress == [{"podSelector": {"matchLabels": {
        "spe.io/project": spec.project_id, "spe.io/component": "hub"}}}, control_plane]
    assert peers(rendered["user-servers"], "ingress") == [server_egress[0]]


def test_a_control_plane_outside_the_cluster_is_reached_by_its_cidr(spec, cluster):
    cluster = dataclasses.replace(cluster, control_plane_cidr="192.0.2.10/32")
    server_egress = peers(policies(render(spec, cluster))["user-servers"], "egress")
    assert {"ipBlock": {"cidr": "192.0.2.10/32"}} in server_egress
    assert not [p for p in server_egress if "namespaceSelector" in p]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "10.0.0.0/8", "::/0", "not-a-cidr"])
def test_wide_or_malformed_cidrs_are_refused(cidr):
    with pytest.raises(SettingsError):
        ClusterSettings(api_server_cidrs=(cidr,), ingress_domain="ws.example.org")
    with pytest.raises(SettingsError):
        ClusterSettings(api_server_cidrs=("10.96.0.1/32",), ingress_domain="ws.example.org",
                        control_plane_cidr=cidr)


def test_settings_without_an_api_endpoint_are_refused():
    with pytest.raises(SettingsError, match="api_server_cidrs"):
        ClusterSettings(api_server_cidrs=(), ingress_domain="ws.example.org")


def test_hub_pod_meets_restricted_with_a_read_only_root(spec, cluster):
    deployment = next(o for o in render(spec, cluster) if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    [hub] = pod["containers"]
    assert hub["securityContext"]["readOnlyRootFilesystem"] is True
    assert hub["securityContext"]["runAsUser"] == 1000
    assert hub["resources"]["limits"] and hub["resources"]["requests"]
    assert pod["serviceAccountName"] == "hub"
    env = {e["name"]: e for e in hub["env"]}
    assert "value" not in env["JPY_COOKIE_SECRET"]  # from the Secret, never inline
    assert "SPE_GRANT_TOKEN" not in env


def test_restricted_checker_catches_violations():
    """The checker used above must fail on what restricted forbids."""
    pod = {"hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
           "containers": [{"name": "c", "securityContext": {"privileged": True}}]}
    problems = " ".join(restricted_violations(pod))
    for word in ("hostNetwork", "hostPath", "privileged", "escalate", "root", "ALL", "seccomp"):
        assert word in problems

