"""The Helm chart: linted, rendered by the real ``helm``, validated and checked for security."""

import json
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from controllers.runtimes.kubernetes.settings import ClusterSettings
from tests.kubernetes.conftest import KUBERNETES_VERSIONS
from tests.kubernetes.restricted import restricted_violations

CHART = Path(__file__).resolve().parents[2] / "helm" / "spe"
VALUES = ["--set", "workspaces.apiServerCidrs={10.96.0.1/32,172.18.0.2/32}",
          "--set", "networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.30.0.5/32",
          "--set", "networkPolicy.extraEgress[0].ports[0].port=5432",
          "--set", "imagePullSecrets={registry}"]


def helm(binary, *args):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def objects(helm_binary):
    result = helm(helm_binary, "template", "spe", str(CHART), "--namespace", "spe", *VALUES)
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


def find(objects, kind, suffix=""):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert found, f"no {kind} *{suffix}"
    return found


def test_lint_strict_passes(helm_binary):
    result = helm(helm_binary, "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_strictly(objects, version):
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_expected_objects_are_rendered_and_no_secret_values(objects):
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("Deployment") == 2
    for kind in ("Service", "ConfigMap", "ClusterRole", "ClusterRoleBinding", "Role",
                 "RoleBinding", "NetworkPolicy", "ServiceAccount"):
        assert kind in kinds
    assert "Secret" not in kinds  # the chart references Secrets, never holds their values


def test_every_pod_meets_restricted_with_read_only_roots(objects):
    for deployment in find(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert restricted_violations(pod) == [], deployment["metadata"]["name"]
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]
        assert pod["imagePullSecrets"] == [{"name": "registry"}]


def test_only_the_controller_gets_an_api_token(objects):
    api = find(objects, "Deployment", "-api")[0]["spec"]["template"]["spec"]
    controller = find(objects, "Deployment", "-controller")[0]["spec"]
    assert api["automountServiceAccountToken"] is False
    assert controller["template"]["spec"]["automountServiceAccountToken"] is True
    assert controller["replicas"] == 2
    env = {e["name"]: e for e in controller["template"]["spec"]["containers"][0]["env"]}
    assert env["SPE_CONTROLLER_IDENTITY"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.name"}}


def test_secrets_come_by_reference(objects):
    container = find(objects, "Deployment", "-api")[0]["spec"]["template"]["spec"][
        "containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs["SPE_DATABASE_URL"] == {"name": "spe-database", "key": "url"}
    assert set(refs) == {"SPE_DATABASE_URL", "SPE_SESSION_SECRET", "SPE_OIDC_CLIENT_SECRET",
                         "SPE_PSEUDONYMISATION_SECRET", "SPE_S3_ACCESS_KEY",
                         "SPE_S3_SECRET_KEY"}
    settings = find(objects, "ConfigMap", "-settings")[0]["data"]
    assert all(name.startswith("SPE_") for name in settings)
    assert settings["SPE_ENVIRONMENT"] == "production"
    assert settings["SPE_KUBERNETES_API_SERVER_CIDRS"] == "10.96.0.1/32,172.18.0.2/32"


def test_controller_rights_are_limited_to_what_it_applies(objects):
    rules = find(objects, "ClusterRole")[0]["rules"]
    granted = {(res, verb) for r in rules for res in r["resources"] for verb in r["verbs"]}
    resources = {res for res, _ in granted}
    assert resources == {"namespaces", "resourcequotas", "limitranges", "serviceaccounts",
                         "configmaps", "secrets", "services", "persistentvolumeclaims",
                         "pods", "events", "networkpolicies", "ingresses", "roles",
                         "rolebindings", "deployments"}
    assert not any("*" in pair for pair in granted)
    assert not {verb for _, verb in granted} & {"escalate", "bind", "impersonate"}
    lease = find(objects, "Role", "-leader-election")[0]["rules"]
    assert {"resources": ["leases"], "resourceNames": ["spe-controller"],
            "verbs": ["get", "update"], "apiGroups": ["coordination.k8s.io"]} in lease


def test_the_hub_role_fits_inside_the_controller_role(objects):
    """Kubernetes refuses to create a Role granting more than its creator holds."""
    from controllers.runtimes.kubernetes.render import HUB_RULES

    rules = find(objects, "ClusterRole")[0]["rules"]
    held = {(g, res, verb) for r in rules for g in r["apiGroups"] for res in r["resources"]
            for verb in r["verbs"]}
    needed = {(g, res, verb) for r in HUB_RULES for g in r["apiGroups"]
              for res in r["resources"] for verb in r["verbs"]}
    assert needed <= held


def test_control_plane_network_is_deny_by_default_and_narrow(objects):
    policies = {o["metadata"]["name"]: o["spec"] for o in find(objects, "NetworkPolicy")}
    deny = policies["spe-default-deny"]
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny
    blocks = [peer["ipBlock"]["cidr"] for spec in policies.values()
              for rule in spec.get("egress", []) for peer in rule["to"] if "ipBlock" in peer]
    assert sorted(blocks) == ["10.30.0.5/32", "10.96.0.1/32", "172.18.0.2/32"]
    for spec in policies.values():
        for rule in spec.get("egress", []) + spec.get("ingress", []):
            assert rule.get("to") or rule.get("from")
            assert rule["ports"]


def test_workspaces_find_the_api_pods_by_their_labels(objects):
    """The runtime's default control-plane selector matches the chart's API pods."""
    labels = find(objects, "Deployment", "-api")[0]["spec"]["template"]["metadata"]["labels"]
    wanted = ClusterSettings(api_server_cidrs=("10.96.0.1/32",),
                             ingress_domain="x.org").control_plane_pod_labels
    assert wanted.items() <= labels.items()


@pytest.mark.parametrize("bad", [
    "workspaces.apiServerCidrs={0.0.0.0/0}",
    "settings.extra.NOT_SPE=1",
    "containerSecurityContext.allowPrivilegeEscalation=true",
    "podSecurityContext.runAsNonRoot=false",
    "settings.publicUrl=http://insecure.example.org",
])
def test_schema_refuses_unsafe_values(helm_binary, bad):
    result = helm(helm_binary, "template", "spe", str(CHART), "--set", bad)
    assert result.returncode != 0
    assert "schema" in result.stderr


def test_the_schema_covers_every_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"])
