"""The Helm chart: linted, rendered by the real ``helm``, validated and checked for security."""

import json
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from joserfc.jwk import OKPKey
from sqlalchemy import create_engine

from controllers.runtimes.kubernetes.settings import ClusterSettings, from_settings
from spe.auth.oidc import OidcConfig
from spe.crypto.signing import load_public_key
from spe.dataplane.config import (
    KEY_USERS,
    MissingSecret,
    create_key_files,
    key_store,
    require_key_files,
)
from spe.domain.permit_decisions import TrustedIssuers
from spe.settings import Settings
from spe.web import create_app
from tests.fixtures.kubernetes import KUBERNETES_VERSIONS
from testsupport.restricted import restricted_violations

CHART = Path(__file__).resolve().parents[2] / "helm" / "spe"
HOSTS = ["--set", "settings.publicUrl=https://spe.hospital.internal",
         "--set", "oidc.issuer=https://idp.hospital.internal/realms/spe",
         "--set", "storage.endpoint=s3.hospital.internal",
         "--set", "workspaces.ingressDomain=ws.hospital.internal"]
"""Real hosts: the chart refuses to render with the documentation's example.org ones."""
VALUES = [*HOSTS, "--set", "workspaces.apiServerCidrs={10.96.0.1/32,172.18.0.2/32}",
          "--set", "workspaces.storageClass=rbd-encrypted",
          "--set", "workspaces.sharedStorageClass=cephfs-encrypted",
          "--set", "workspaces.encryptedStorageClasses={rbd-encrypted,cephfs-encrypted}",
          "--set", "networkPolicy.extraEgress[0].to[0].ipBlock.cidr=10.30.0.5/32",
          "--set", "networkPolicy.extraEgress[0].ports[0].port=5432",
          "--set", "imagePullSecrets={registry}"]
NAMESPACE = "spe-system"


def helm(binary, *args):
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def objects(helm_binary):
    result = helm(helm_binary, "template", "spe", str(CHART), "--namespace", NAMESPACE,
                  *VALUES)
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


def find(objects, kind, suffix=""):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    assert found, f"no {kind} *{suffix}"
    return found


def pod_templates(objects):
    """Every pod the chart runs: the three Deployments', the migration Job's and the
    `helm test` pods."""
    pods = {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects
            if o["kind"] in ("Deployment", "Job")}
    pods |= {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "Pod"}
    return pods


TEST_PODS = {"spe-test-api-ready", "spe-test-db-migrated", "spe-test-audit-verify"}


def container_env(objects, container, mounts_root: Path | None = None) -> dict[str, str]:
    """The environment ``container`` starts with: its ConfigMaps' data, then its ``env``,
    Secret references resolved to dummy strings. With ``mounts_root``, paths under the
    container's volume mounts point into ``mounts_root/<volume>`` instead."""
    maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    env = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = f"dummy-{ref['name']}-{ref['key']}"
    if mounts_root is not None:
        mounts = sorted(container.get("volumeMounts", []), key=lambda m: -len(m["mountPath"]))
        for name, value in env.items():
            mount = next((m for m in mounts if value.startswith(m["mountPath"])), None)
            if mount:
                env[name] = str(mounts_root / mount["name"]) + value[len(mount["mountPath"]):]
    return env


def loaded(monkeypatch, env: dict[str, str], cls=Settings):
    """``cls()`` read from exactly ``env``, as the process would."""
    for name in [n for n in os.environ if n.startswith("SPE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cls(_env_file=None)


def test_lint_strict_passes(helm_binary):
    result = helm(helm_binary, "lint", "--strict", str(CHART), *HOSTS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_strictly(objects, version):
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_expected_objects_are_rendered_and_no_secret_values(objects):
    kinds = sorted(o["kind"] for o in objects)
    assert kinds.count("Deployment") == 3 and kinds.count("Job") == 1
    for kind in ("Service", "ConfigMap", "ClusterRole", "ClusterRoleBinding", "Role",
                 "RoleBinding", "NetworkPolicy", "ServiceAccount"):
        assert kind in kinds
    assert "Secret" not in kinds  # the chart references Secrets, never holds their values


def test_every_pod_meets_restricted_with_read_only_roots(objects):
    pods = pod_templates(objects)
    assert set(pods) == {"spe-api", "spe-controller", "spe-signer", "spe-migrations",
                         *TEST_PODS}
    for name, pod in pods.items():
        assert restricted_violations(pod) == [], name
        assert pod["automountServiceAccountToken"] is (name == "spe-controller")
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"]
            assert container["resources"]["requests"]
        assert pod["imagePullSecrets"] == [{"name": "registry"}]


def test_only_the_controller_gets_an_api_token(objects):
    pods = pod_templates(objects)
    assert pods["spe-api"]["automountServiceAccountToken"] is False
    assert pods["spe-migrations"]["automountServiceAccountToken"] is False
    assert pods["spe-controller"]["automountServiceAccountToken"] is True
    assert find(objects, "Deployment", "-controller")[0]["spec"]["replicas"] == 2


def test_secrets_come_by_reference(objects):
    container = pod_templates(objects)["spe-api"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {
        "SPE_DATABASE_URL": {"name": "spe-database", "key": "url"},
        "SPE_OIDC_CLIENT_SECRET": {"name": "spe-oidc", "key": "client-secret"},
        "SPE_STORAGE_ACCESS_KEY": {"name": "spe-storage", "key": "access-key"},
        "SPE_STORAGE_SECRET_KEY": {"name": "spe-storage", "key": "secret-key"},
    }
    settings = find(objects, "ConfigMap", "-settings")[0]["data"]
    assert settings["SPE_ENVIRONMENT"] == "production"
    assert json.loads(settings["SPE_KUBERNETES_API_SERVER_CIDRS"]) == ["10.96.0.1/32",
                                                                       "172.18.0.2/32"]


def test_every_spe_variable_is_a_setting(objects):
    """A variable no setting reads is a setting silently not applied."""
    known = ({f"SPE_{name.upper()}" for name in Settings.model_fields}
             | {f"SPE_OIDC_{name.upper()}" for name in OidcConfig.model_fields})
    names = set(find(objects, "ConfigMap", "-settings")[0]["data"])
    for pod in pod_templates(objects).values():
        for container in pod["containers"]:
            names |= {e["name"] for e in container.get("env", [])}
    assert all(name.startswith("SPE_") for name in names)
    assert names - known == set()
    assert len(names) > 30  # the rendering above really found them


@pytest.mark.parametrize("pod", ["spe-api", "spe-controller", "spe-signer", "spe-migrations"])
def test_settings_load_from_each_containers_environment(objects, monkeypatch, pod):
    [container] = pod_templates(objects)[pod]["containers"]
    settings = loaded(monkeypatch, container_env(objects, container))
    assert settings.environment == "production"
    if pod == "spe-migrations":
        assert container["args"] == ["db", "upgrade"]
        assert settings.database_admin_url == "dummy-spe-database-admin-url"
        assert settings.database_app_role == "spe_app"
        assert settings.database_signer_role == "spe_signer"
        return
    assert settings.runtime == "kubernetes" and settings.storage_backend == "s3"
    assert (settings.storage_endpoint, settings.storage_bucket) == ("s3.hospital.internal",
                                                                    "spe")
    assert settings.storage_secret_key.get_secret_value() == "dummy-spe-storage-secret-key"
    assert settings.database_app_role == "spe_app"
    if pod == "spe-signer":  # no identity provider, no cluster: the log and its witness
        assert settings.audit.signer_database_url == "dummy-spe-database-signer-url"
        assert settings.database_url is None  # not the application's
        with pytest.raises(ValueError, match="SPE_DATABASE_URL"):
            settings.resolved_database_url  # noqa: B018  (refused, never SQLite instead)
        return
    assert settings.audit.signer_database_url == "dummy-spe-database-url"  # unused there
    oidc = loaded(monkeypatch, container_env(objects, container), OidcConfig)
    assert oidc.client_id == "spe" and oidc.mfa_amr_methods == ["mfa", "otp", "hwk"]
    cluster = from_settings(settings)
    assert cluster.api_server_cidrs == ("10.96.0.1/32", "172.18.0.2/32")
    assert cluster.control_plane_namespace == NAMESPACE
    assert cluster.tls_secret is None and cluster.storage_class == "rbd-encrypted"


def test_the_lease_is_the_one_the_controller_may_use(objects, monkeypatch):
    [container] = pod_templates(objects)["spe-controller"]["containers"]
    settings = loaded(monkeypatch, container_env(objects, container))
    lease = find(objects, "Role", "-leader-election")[0]
    assert lease["metadata"].get("namespace", NAMESPACE) == settings.kubernetes_lease_namespace
    assert settings.kubernetes_lease_namespace == NAMESPACE
    named = [r["resourceNames"] for r in lease["rules"] if "resourceNames" in r]
    assert named == [[settings.kubernetes_lease_name]]


def mounted_key_files(pod, container, settings) -> dict[str, tuple[str, str]]:
    """Each file of a Secret ``container`` mounts, by its path: (Secret, key in it)."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    files = {}
    for mount in container["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert mount["readOnly"] is True
        for item in secret["items"]:  # only these files of the Secret appear
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"],
                                                             item["key"])
    return files


@pytest.mark.parametrize("pod_name", ["spe-api", "spe-controller", "spe-signer"])
def test_each_pod_mounts_the_key_files_its_process_uses_and_no_more(objects, monkeypatch,
                                                                    pod_name):
    """Each process's key files (KEY_USERS) are exactly the Secret files its pod mounts,
    where its settings look for them: the audit signing key in the signer's pod alone, from
    a Secret of its own; the API has its public half."""
    pod = pod_templates(objects)[pod_name]
    [container] = pod["containers"]
    settings = loaded(monkeypatch, container_env(objects, container))
    process = pod_name.removeprefix("spe-")
    paths = settings.keys.files
    used = {str(getattr(paths, name)) for name, users in KEY_USERS.items() if process in users}
    files = mounted_key_files(pod, container, settings)
    assert set(files) == used
    signing = str(paths.audit_signing)
    if process == "signer":
        assert files == {signing: ("spe-audit-signing-key", "audit-ed25519.pem")}
    else:
        assert {secret for secret, _ in files.values()} == {"spe-keys"}
        assert "audit-ed25519.pem" not in {key for _, key in files.values()}
    if process != "signer":
        data_keys = {m["mountPath"]: m for m in container["volumeMounts"]}[
            str(settings.key_store_path)]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes[data_keys["name"]]["persistentVolumeClaim"] == {
            "claimName": "spe-data-keys"}


def test_no_pod_but_the_signers_can_reach_the_audit_signing_key(objects):
    """Neither Secret reference nor mount of the signing key anywhere else, nor the
    signer's pod holding anything it does not use (no OIDC secret, no data keys)."""
    for name, pod in pod_templates(objects).items():
        secrets = {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
        assert ("spe-audit-signing-key" in secrets) is (name == "spe-signer"), name
    signer = pod_templates(objects)["spe-signer"]
    [container] = signer["containers"]
    assert container["args"] == ["audit", "signer"]
    assert {e["name"] for e in container["env"]} == {
        "SPE_AUDIT_SIGNER_DATABASE_URL", "SPE_STORAGE_ACCESS_KEY", "SPE_STORAGE_SECRET_KEY",
        "SPE_AUDIT_SIGNING_KEY_PATH"}
    assert {v["name"] for v in signer["volumes"]} == {"tmp", "data", "audit-signing"}
    assert signer["automountServiceAccountToken"] is False
    [deployment] = find(objects, "Deployment", "-signer")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def referenced_secrets(pod) -> set[str]:
    """Every Secret a pod can read: its volumes' and its containers' variables'."""
    names = {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    for container in pod["containers"]:
        names |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", [])
                  if "secretKeyRef" in e.get("valueFrom", {})}
        names |= {s["secretRef"]["name"] for s in container.get("envFrom", [])
                  if "secretRef" in s}
    return names


def test_the_signer_reads_only_its_own_secrets_and_no_other_pod_reads_its_database_url(
        objects):
    """The signing key's pod has its own database URL (the signer's role), not the
    application's nor the owner's, nor the keys Secret; the API, the controller and every
    other pod never see the signer's database URL."""
    pods = pod_templates(objects)
    assert referenced_secrets(pods["spe-signer"]) == {
        "spe-database-signer", "spe-storage", "spe-audit-signing-key"}
    for name, pod in pods.items():
        if name != "spe-signer":
            assert "spe-database-signer" not in referenced_secrets(pod), name
    assert "spe-database" in referenced_secrets(pods["spe-api"])
    assert "spe-database" in referenced_secrets(pods["spe-controller"])


def test_with_an_hsm_no_pod_mounts_the_kek(helm_binary):
    result = helm(helm_binary, "template", "spe", str(CHART), "--namespace", NAMESPACE,
                  *VALUES, "--set", "keyStore.type=pkcs11",
                  "--set", "keyStore.pkcs11.library=/usr/lib/hsm.so",
                  "--set", "keyStore.pkcs11.tokenLabel=spe")
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    for pod in pod_templates(objects).values():
        for volume in pod.get("volumes", []):
            items = volume.get("secret", {}).get("items", [])
            assert "kek.key" not in {i["key"] for i in items}


def test_the_api_starts_from_the_rendered_environment_with_the_keys_secret(
        objects, monkeypatch, tmp_path):
    [container] = pod_templates(objects)["spe-api"]["containers"]
    env = container_env(objects, container, mounts_root=tmp_path)
    settings = loaded(monkeypatch, env)
    assert settings.keys_dir == tmp_path / "keys"
    with pytest.raises(MissingSecret, match="SPE_KEYS_DIR"):
        create_app(settings, create_engine("sqlite://"))  # the Secret is not there yet
    assert not settings.keys_dir.exists()  # and nothing was made up instead
    created = create_key_files(settings.keys_dir)  # what the operator puts in the Secret
    require_key_files(settings, "api")
    app = create_app(settings, create_engine("sqlite://"))
    assert app.state.oidc is not None and app.state.oidc.issuer.startswith("https://")
    assert sorted(settings.keys_dir.iterdir()) == sorted(created)


def test_the_signer_starts_from_its_rendered_environment_with_its_own_secret(
        objects, monkeypatch, tmp_path):
    """The signer's settings find the signing key where its Secret is mounted (refused while
    absent, never made up), and the API's keys directory is not in its pod at all."""
    from spe.audit.signer import CheckpointSigner

    [container] = pod_templates(objects)["spe-signer"]["containers"]
    settings = loaded(monkeypatch, container_env(objects, container, mounts_root=tmp_path))
    assert settings.resolved_audit_signing_key_path == \
        tmp_path / "audit-signing" / "audit-ed25519.pem"
    with pytest.raises(MissingSecret, match="SPE_AUDIT_SIGNING_KEY_PATH"):
        require_key_files(settings, "signer")
    created = create_key_files(tmp_path / "operator")
    (tmp_path / "audit-signing").mkdir()
    (tmp_path / "operator" / "audit-ed25519.pem").rename(settings.resolved_audit_signing_key_path)
    require_key_files(settings, "signer")
    signer = CheckpointSigner.from_settings(settings, create_engine("sqlite://"))
    public = next(p for p in created if p.name == "audit-ed25519.pub.pem")
    assert signer.key.public_key.public_bytes_raw() == \
        load_public_key(public.read_bytes()).public_bytes_raw()
    assert not settings.keys_dir.exists()  # production: nothing published, nothing made up


def test_migrations_run_before_install_and_upgrade(objects):
    [job] = find(objects, "Job", "-migrations")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and "serviceAccountName" not in pod
    [container] = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SPE_DATABASE_ADMIN_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "spe-database-admin", "key": "url"}
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "spe"  # the release's egress policy


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


def test_trusted_permit_issuers_reach_the_api_as_a_readable_file(
        helm_binary, monkeypatch, tmp_path):
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "hdh-2026"})
    values = tmp_path / "issuers.yaml"
    values.write_text(yaml.safe_dump({"permits": {"requireSignature": True, "trustedIssuers": {
        "https://hdh.example": {"keys": [key.as_dict(private=False)]}}}}))
    result = helm(helm_binary, "template", "spe", str(CHART), "--namespace", NAMESPACE,
                  *VALUES, "-f", str(values))
    assert result.returncode == 0, result.stderr
    rendered = [o for o in yaml.safe_load_all(result.stdout) if o]
    [issuers] = find(rendered, "ConfigMap", "-permit-issuers")
    [container] = pod_templates(rendered)["spe-api"]["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "permit-issuers")
    assert mount["readOnly"] is True
    (tmp_path / "permit-issuers").mkdir()  # what the kubelet projects from the ConfigMap
    (tmp_path / "permit-issuers" / "issuers.json").write_text(issuers["data"]["issuers.json"])
    settings = loaded(monkeypatch, container_env(rendered, container, mounts_root=tmp_path))
    assert settings.permits_require_signature is True
    trusted = TrustedIssuers.load(settings.permit_issuers_file)
    assert trusted.keys["hdh-2026"][0] == "https://hdh.example"


def test_an_hsm_key_store_reaches_every_pod_with_its_pin_mounted(
        helm_binary, monkeypatch, tmp_path, softhsm_token):
    result = helm(helm_binary, "template", "spe", str(CHART), "--namespace", NAMESPACE,
                  *VALUES, "--set", "keyStore.type=pkcs11",
                  "--set", f"keyStore.pkcs11.library={softhsm_token.library}",
                  "--set", f"keyStore.pkcs11.tokenLabel={softhsm_token.label}")
    assert result.returncode == 0, result.stderr
    rendered = [o for o in yaml.safe_load_all(result.stdout) if o]
    for obj in rendered:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
    for name in ("spe-api", "spe-controller"):
        pod = pod_templates(rendered)[name]
        [container] = pod["containers"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == "hsm-pin")
        assert mount["readOnly"] is True
        volume = next(v for v in pod["volumes"] if v["name"] == "hsm-pin")
        assert volume["secret"]["secretName"] == "spe-hsm-pin"
    (tmp_path / "hsm-pin").mkdir()  # what the kubelet projects from the Secret
    (tmp_path / "hsm-pin" / "pin").write_text(softhsm_token.pin)
    settings = loaded(monkeypatch, container_env(rendered, container, mounts_root=tmp_path))
    assert settings.key_store == "pkcs11"
    store = key_store(settings.model_copy(update={"key_store_path": tmp_path / "data-keys"}))
    created = store.create_data_key("p-chart")
    assert store.unwrap("p-chart") == created


@pytest.mark.parametrize("bad", [
    ["keyStore.type=vault"],
    ["keyStore.type=pkcs11"],  # no module, no token
    ["keyStore.type=pkcs11", "keyStore.pkcs11.library=libsofthsm2.so",
     "keyStore.pkcs11.tokenLabel=t"],  # a relative path
])
def test_the_schema_refuses_an_incomplete_key_store(helm_binary, bad):
    result = helm(helm_binary, "template", "spe", str(CHART),
                  *[arg for value in bad for arg in ("--set", value)])
    assert result.returncode != 0 and "schema" in result.stderr


def test_a_private_key_is_refused_as_a_trusted_issuer_key(helm_binary, tmp_path):
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "oops"})
    values = tmp_path / "private.yaml"
    values.write_text(yaml.safe_dump({"permits": {"trustedIssuers": {
        "https://hdh.example": {"keys": [key.as_dict(private=True)]}}}}))
    result = helm(helm_binary, "template", "spe", str(CHART), "-f", str(values))
    assert result.returncode != 0 and "schema" in result.stderr


@pytest.mark.parametrize("bad", [
    "workspaces.apiServerCidrs={0.0.0.0/0}",
    "settings.extra.NOT_SPE=1",
    "containerSecurityContext.allowPrivilegeEscalation=true",
    "podSecurityContext.runAsNonRoot=false",
    "settings.publicUrl=http://insecure.example.org",
    "oidc.issuer=http://idp.example.org",
    "oidc.mfaAmrMethods=null",
    "database.appRole=spe;drop",
    "database.signerRole=spe;drop",
    "storage.endpoint=https://s3.example.org/",
])
def test_schema_refuses_unsafe_values(helm_binary, bad):
    result = helm(helm_binary, "template", "spe", str(CHART), "--set", bad)
    assert result.returncode != 0
    assert "schema" in result.stderr


def test_the_schema_covers_every_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"])
