import dataclasses
import json

import kubernetes_validate
import pytest
import yaml
from kubernetes.utils.quantity import parse_quantity

from controllers.runtimes.kubernetes.render import (
    HUB_RULES,
    PROJECT_LABEL,
    RenderError,
    render,
    render_yaml,
)
from spe.errors import TerminalError
from tests.fixtures.kubernetes import KUBERNETES_VERSIONS, make_spec


def by_kind(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''} rendered"
    return found if name is None else found[0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("extract", [True, False])
def test_every_object_validates_strictly(spec, cluster, version, extract):
    spec = spec if extract else dataclasses.replace(spec, extract=None)
    for obj in render(spec, cluster):
        # raises ValidationError, or SchemaNotFoundError for an unknown kind/apiVersion
        kubernetes_validate.validate(obj, version, strict=True)


def test_every_object_carries_the_project_and_manager_labels(spec, cluster):
    for obj in render(spec, cluster):
        labels = obj["metadata"]["labels"]
        assert labels[PROJECT_LABEL] == spec.project_id, obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "spe", obj["kind"]


def test_the_namespace_comes_first_and_holds_everything_else(spec, cluster):
    objects = render(spec, cluster)
    assert objects[0]["kind"] == "Namespace"
    ns = objects[0]["metadata"]["name"]
    assert ns == "spe-p-7f3a9c12"
    assert all(o["metadata"]["namespace"] == ns for o in objects[1:])
    assert "namespace" not in objects[0]["metadata"]


def test_namespace_enforces_audits_and_warns_restricted(spec, cluster):
    labels = by_kind(render(spec, cluster), "Namespace")[0]["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.33"


def test_quota_comes_from_the_profile_and_forbids_external_services(spec, cluster):
    hard = by_kind(render(spec, cluster), "ResourceQuota", "workspace")["spec"]["hard"]
    p = spec.profile
    assert hard["limits.cpu"] == p.quota_cpu and hard["requests.cpu"] == p.quota_cpu
    assert hard["limits.memory"] == p.quota_memory
    assert hard["pods"] == str(p.quota_pods)
    assert hard["persistentvolumeclaims"] == str(p.quota_pvcs)
    assert hard["services.loadbalancers"] == "0"
    assert hard["services.nodeports"] == "0"


def test_limit_range_bounds_every_container_and_claim(spec, cluster):
    limits = by_kind(render(spec, cluster), "LimitRange", "workspace")["spec"]["limits"]
    container = next(lim for lim in limits if lim["type"] == "Container")
    assert container["max"] == {"cpu": spec.profile.cpu_limit,
                                "memory": spec.profile.memory_limit}
    assert container["default"] and container["defaultRequest"]
    claim = next(lim for lim in limits if lim["type"] == "PersistentVolumeClaim")
    assert claim["max"] == {"storage": max(spec.profile.storage, spec.profile.project_storage,
                                            spec.profile.extract_storage, key=parse_quantity)}


def test_hub_role_is_namespaced_and_least_privilege(spec, cluster):
    objects = render(spec, cluster)
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = by_kind(objects, "Role", "hub")
    assert role["rules"] == HUB_RULES
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"]
               for verb in rule["verbs"]}
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    assert {res for res, _ in granted} == {"pods", "persistentvolumeclaims", "events"}
    assert not any("*" in pair for pair in granted)
    assert not any(res == "secrets" for res, _ in granted)
    assert ("events", "create") not in granted and ("pods", "update") not in granted
    binding = by_kind(objects, "RoleBinding", "hub")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "hub"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hub"}]


def test_secrets_live_in_secrets_not_in_the_config_map(spec, cluster):
    objects = render(spec, cluster)
    config_map = by_kind(objects, "ConfigMap", "hub-config")
    assert "c.merge(Config(traits))" in config_map["data"]["jupyterhub_config.py"]
    text = json.dumps(config_map)
    for secret in (spec.oauth.client_secret, spec.hub_service_token, spec.extract.grant_token):
        assert secret not in text
    hub = by_kind(objects, "Secret", "hub")
    traits = json.loads(hub["stringData"]["hub.json"])
    assert traits["GenericOAuthenticator"]["client_secret"] == spec.oauth.client_secret
    assert traits["GenericOAuthenticator"]["allowed_users"] == ["alice", "bob"]
    assert traits["KubeSpawner"]["namespace"] == "spe-p-7f3a9c12"
    assert traits["SpeHub"]["audit_token"] == spec.hub_service_token
    grant = by_kind(objects, "Secret", "extract-grant")
    assert grant["stringData"] == {"url": spec.extract.grant_url,
                                   "token": spec.extract.grant_token}


def test_hub_keys_are_stable_distinct_and_follow_the_service_token(spec, cluster):
    keys = by_kind(render(spec, cluster), "Secret", "hub")["stringData"]
    again = by_kind(render(spec, cluster), "Secret", "hub")["stringData"]
    assert keys == again
    derived = [keys["cookie-secret"], keys["crypt-key"], keys["proxy-token"]]
    assert len(set(derived)) == 3 and all(len(bytes.fromhex(k)) == 32 for k in derived)
    rotated = dataclasses.replace(spec, hub_service_token="another-token")
    assert by_kind(render(rotated, cluster), "Secret", "hub")["stringData"][
        "cookie-secret"] != keys["cookie-secret"]


def test_a_changed_configuration_restarts_the_hub(spec, cluster):
    def digest(s):
        deployment = by_kind(render(s, cluster), "Deployment", "hub")
        return deployment["spec"]["template"]["metadata"]["annotations"]["spe.io/config-sha256"]

    assert digest(spec) == digest(spec)
    assert digest(dataclasses.replace(spec, users=("alice",))) != digest(spec)


def test_no_extract_no_grant_secret(spec, cluster):
    objects = render(dataclasses.replace(spec, extract=None), cluster)
    assert not [o for o in objects if o["metadata"]["name"] == "extract-grant"]


def test_hub_is_served_at_the_project_host_with_tls(spec, cluster):
    ingress = by_kind(render(spec, cluster), "Ingress", "hub")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["rules"][0]["host"] == "p-7f3a9c12.ws.example.org"
    assert ingress["tls"] == [{"hosts": ["p-7f3a9c12.ws.example.org"],
                               "secretName": "ws-wildcard-tls"}]
    service = by_kind(render(spec, cluster), "Service", "hub")["spec"]
    assert service["type"] == "ClusterIP"


def test_hub_uses_the_profile_images(cluster):
    spec = make_spec(profile="small")
    objects = render(spec, cluster)
    container = by_kind(objects, "Deployment", "hub")["spec"]["template"]["spec"][
        "containers"][0]
    assert container["image"] == spec.profile.hub_image
    traits = json.loads(by_kind(objects, "Secret", "hub")["stringData"]["hub.json"])
    assert traits["KubeSpawner"]["image"] == spec.profile.image


def test_render_yaml_is_the_same_objects(spec, cluster):
    assert list(yaml.safe_load_all(render_yaml(spec, cluster))) == render(spec, cluster)


@pytest.mark.parametrize("project_id", ["P-Upper", "bad_id", "-lead", "x" * 60, ""])
def test_a_project_id_that_is_no_dns_label_is_refused(cluster, project_id):
    with pytest.raises(RenderError, match="DNS-1123"):
        render(make_spec(project_id), cluster)


def test_a_project_nobody_may_use_is_refused_as_terminal(spec, cluster):
    with pytest.raises(TerminalError, match="no user"):
        render(dataclasses.replace(spec, users=()), cluster)


def test_the_controllers_binding_comes_right_after_the_namespace(spec, cluster):
    """Every later object is written with the rights this binding grants, and only here."""
    binding = render(spec, cluster)[1]
    assert (binding["kind"], binding["metadata"]["name"]) == ("RoleBinding", "spe-controller")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "spe-controller-project"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "spe-controller",
                                    "namespace": cluster.control_plane_namespace}]


def test_the_clusters_images_replace_the_profiles(spec, cluster):
    hub_image, server_image = "registry.test/spe-hub@sha256:" + "a" * 64, "r.test/ws:1.2"
    objects = render(spec, dataclasses.replace(cluster, hub_image=hub_image,
                                               workspace_image=server_image))
    hub = by_kind(objects, "Deployment", "hub")["spec"]["template"]["spec"]["containers"][0]
    assert hub["image"] == hub_image
    traits = json.loads(by_kind(objects, "Secret", "hub")["stringData"]["hub.json"])
    assert traits["KubeSpawner"]["image"] == server_image
    assert {c["image"] for c in traits["KubeSpawner"]["init_containers"]} == {server_image}
    default = by_kind(render(spec, cluster), "Deployment", "hub")
    assert default["spec"]["template"]["spec"]["containers"][0]["image"] == \
        spec.profile.hub_image


def test_no_hub_mount_lies_inside_a_read_only_one(spec, cluster):
    """The runtime cannot create a mount point inside a read-only volume: such a pod never
    starts."""
    hub = by_kind(render(spec, cluster), "Deployment", "hub")
    [container] = hub["spec"]["template"]["spec"]["containers"]
    mounts = container["volumeMounts"]
    for outer in (m for m in mounts if m.get("readOnly")):
        for inner in mounts:
            assert not inner["mountPath"].startswith(outer["mountPath"].rstrip("/") + "/"), \
                (inner["mountPath"], outer["mountPath"])


def test_a_spent_budget_reaches_the_hub_and_restarts_it(spec, cluster):
    reason = "This project has used its computing budget."
    spent = dataclasses.replace(spec, spawn_refusal=reason, notice=reason)
    before, after = render(spec, cluster), render(spent, cluster)
    traits = json.loads(by_kind(after, "Secret", "hub")["stringData"]["hub.json"])
    assert traits["SpeHub"]["spawn_refusal"] == reason
    assert traits["JupyterHub"]["template_vars"] == {"announcement": reason}
    changed = {(o["kind"], o["metadata"]["name"]) for o, p in zip(after, before, strict=True)
               if o != p}
    assert changed == {("Secret", "hub"), ("Deployment", "hub")}  # new config, new hub pod
