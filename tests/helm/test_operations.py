"""What an operator needs from the chart: image references, an Ingress, probes, disruption
budgets, `helm test` hooks, and refusal of the documentation's example hosts."""

import kubernetes_validate
import pytest
import yaml

from controllers.runtimes.kubernetes.settings import from_settings
from tests.fixtures.kubernetes import KUBERNETES_VERSIONS
from tests.helm.test_chart import (
    CHART,
    HOSTS,
    NAMESPACE,
    TEST_PODS,
    VALUES,
    container_env,
    find,
    helm,
    loaded,
    pod_templates,
)
from testsupport.restricted import restricted_violations

DIGEST = "sha256:" + "ab" * 32


def rendered(helm_binary, *args):
    result = helm(helm_binary, "template", "spe", str(CHART), "--namespace", NAMESPACE,
                  *VALUES, *args)
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
    return objects


@pytest.fixture(scope="module")
def objects(helm_binary):
    return rendered(helm_binary)


def controller_settings(objects, monkeypatch):
    [container] = pod_templates(objects)["spe-controller"]["containers"]
    return loaded(monkeypatch, container_env(objects, container))


def test_every_image_defaults_to_the_app_version_and_reaches_the_controller(
        objects, monkeypatch):
    images = {c["image"] for pod in pod_templates(objects).values() for c in pod["containers"]}
    assert images == {"ghcr.io/spe-project/spe:0.1.0"}
    cluster = from_settings(controller_settings(objects, monkeypatch))
    assert cluster.hub_image == "ghcr.io/spe-project/spe-hub:0.1.0"
    assert cluster.workspace_image == "ghcr.io/spe-project/spe-workspace:0.1.0"


def test_a_digest_wins_over_a_tag(helm_binary, monkeypatch):
    objects = rendered(helm_binary, "--set", f"image.digest={DIGEST}",
                       "--set", "image.tag=9.9", "--set", "hubImage.repository=r.local/hub",
                       "--set", f"hubImage.digest={DIGEST}",
                       "--set", "workspaceImage.tag=2026.1")
    images = {c["image"] for pod in pod_templates(objects).values() for c in pod["containers"]}
    assert images == {f"ghcr.io/spe-project/spe@{DIGEST}"}
    cluster = from_settings(controller_settings(objects, monkeypatch))
    assert cluster.hub_image == f"r.local/hub@{DIGEST}"
    assert cluster.workspace_image == "ghcr.io/spe-project/spe-workspace:2026.1"


def test_the_work_area_storage_declaration_reaches_the_controller(helm_binary, monkeypatch,
                                                                   objects):
    """The test values declare both classes encrypting; by default nothing is declared and
    plaintext is not accepted, so the controller refuses to render any workspace."""
    cluster = from_settings(controller_settings(objects, monkeypatch))
    assert cluster.encrypted_storage_classes == ("rbd-encrypted", "cephfs-encrypted")
    assert cluster.encrypts_work_areas and not cluster.plaintext_work_areas
    bare = rendered(helm_binary, "--set", "workspaces.encryptedStorageClasses=null",
                    "--set", "workspaces.plaintextWorkAreas=true")
    cluster = from_settings(controller_settings(bare, monkeypatch))
    assert not cluster.encrypts_work_areas and cluster.plaintext_work_areas
    result = helm(helm_binary, "template", "spe", str(CHART), *HOSTS, "--set",
                  "workspaces.plaintextWorkAreas=yes please")
    assert result.returncode != 0 and "schema" in result.stderr


@pytest.mark.parametrize("bad", ["image.digest=sha256:short", "hubImage.tag=a b",
                                 "workspaceImage.repository=HTTPS://x"])
def test_the_schema_refuses_malformed_image_references(helm_binary, bad):
    result = helm(helm_binary, "template", "spe", str(CHART), *HOSTS, "--set", bad)
    assert result.returncode != 0 and "schema" in result.stderr


def test_no_ingress_unless_asked(objects):
    assert not [o for o in objects if o["kind"] == "Ingress"]


def test_the_ingress_serves_the_public_url_host_through_the_api_service(helm_binary):
    objects = rendered(helm_binary, "--set", "ingress.enabled=true",
                       "--set", "ingress.tlsSecret=spe-tls",
                       "--set", "settings.publicUrl=https://spe.hospital.internal:8443")
    [ingress] = find(objects, "Ingress")
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "spe.hospital.internal"
    assert ingress["spec"]["tls"] == [{"hosts": ["spe.hospital.internal"],
                                       "secretName": "spe-tls"}]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    [service] = find(objects, "Service")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_controller_probes_the_port_it_serves_its_health_on(objects, monkeypatch):
    [container] = pod_templates(objects)["spe-controller"]["containers"]
    settings = controller_settings(objects, monkeypatch)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == settings.controller_health_port == 8081
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_each_component_has_a_disruption_budget_that_selects_its_pods(objects):
    budgets = {o["metadata"]["name"]: o["spec"] for o in find(objects, "PodDisruptionBudget")}
    assert set(budgets) == {"spe-api", "spe-controller"}
    for name, budget in budgets.items():
        [deployment] = find(objects, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
        assert budget["maxUnavailable"] == 1 and "minAvailable" not in budget


def test_helm_test_checks_readiness_migrations_and_the_audit_log(objects):
    tests = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Pod"}
    assert set(tests) == TEST_PODS
    for pod in tests.values():
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert restricted_violations(pod["spec"]) == []
    commands = {name: " ".join(pod["spec"]["containers"][0]["command"])
                for name, pod in tests.items()}
    assert "http://spe:8000/readyz" in commands["spe-test-api-ready"]
    assert "pending_migrations" in commands["spe-test-db-migrated"]
    assert commands["spe-test-audit-verify"] == \
        "spe audit verify --public-key /var/run/spe/keys/audit-ed25519.pub.pem"


def test_test_pods_may_reach_the_api_and_nothing_more_than_the_release(objects):
    policies = {o["metadata"]["name"]: o["spec"] for o in find(objects, "NetworkPolicy")}
    test_labels = {"app.kubernetes.io/instance": "spe", "app.kubernetes.io/component": "test"}
    api_in = [peer["podSelector"]["matchLabels"] for rule in policies["spe-api"]["ingress"]
              for peer in rule["from"] if "namespaceSelector" not in peer]
    assert test_labels in api_in
    tests_out = policies["spe-tests"]
    assert tests_out["podSelector"]["matchLabels"] == test_labels
    [rule] = tests_out["egress"]
    assert rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"


def test_audit_verify_trusts_the_given_public_key(helm_binary):
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    objects = rendered(helm_binary, "--set-string", f"tests.auditPublicKey={pem}")
    [pod] = [o for o in objects if o["metadata"]["name"] == "spe-test-audit-verify"]
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["spe", "audit", "verify", "--public-key",
                                    "/etc/spe/audit/audit-public.pem"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "audit-public-key")
    assert mount["readOnly"] is True
    [key] = find(objects, "ConfigMap", "-audit-public-key")
    assert key["data"]["audit-public.pem"] == pem


@pytest.mark.parametrize(("value", "host"), [
    ("settings.publicUrl=https://spe.example.org", "spe.example.org"),
    ("oidc.issuer=https://login.EXAMPLE.com/realms/x", "login.example.com"),
    ("storage.endpoint=s3.example.net:9000", "s3.example.net"),
    ("workspaces.ingressDomain=ws.example", "ws.example"),
    ("settings.publicUrl=https://localhost:8443", "localhost"),
])
def test_production_refuses_example_hosts(helm_binary, value, host):
    result = helm(helm_binary, "template", "spe", str(CHART), *VALUES, "--set", value)
    assert result.returncode != 0
    assert f'the example host "{host}"' in result.stderr


def test_the_default_values_do_not_render(helm_binary):
    """values.yaml documents every key with example hosts: installing it as is fails."""
    result = helm(helm_binary, "template", "spe", str(CHART))
    assert result.returncode != 0 and "example host" in result.stderr


@pytest.mark.parametrize("bad", ["secrets.database.name=", "secrets.databaseSigner.key=",
                                 "secrets.keys.name=",
                                 "secrets.storage.secretKey=", "secrets.oidc=null"])
def test_missing_secret_references_are_refused(helm_binary, bad):
    result = helm(helm_binary, "template", "spe", str(CHART), *HOSTS, "--set", bad)
    assert result.returncode != 0 and "schema" in result.stderr
