"""The controller's rights as the chart grants them: RBAC evaluated against every request the
Kubernetes runtime really makes, and the admission policy's CEL run on admission requests.

RBAC is evaluated here by the rules' documented semantics (apiGroups, resources,
resourceNames, verbs; a RoleBinding grants its role in its namespace only); the policy's
expressions are compiled and evaluated by cel-python, with the variables the API server
provides (``request``, ``object``, ``oldObject``, ``namespaceObject``, ``variables``).
"""

from __future__ import annotations

import re
from typing import Any

import celpy
import pytest

from controllers.runtimes.kubernetes.apply import RESOURCES
from controllers.runtimes.kubernetes.render import (
    CONTROLLER_BINDING,
    HUB_RULES,
    closed_page,
    render,
)
from controllers.runtimes.kubernetes.runtime import KubernetesRuntime
from controllers.runtimes.kubernetes.settings import from_settings
from tests.fixtures.kubernetes import make_spec
from tests.helm.test_chart import NAMESPACE, container_env, find, loaded, pod_templates

SA = f"system:serviceaccount:{NAMESPACE}:spe-controller"
VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "PUT": "update",
         "DELETE": "delete"}
PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)"
                  r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?$")


def rule_allows(rule, verb, group, resource, name) -> bool:
    return (group in rule["apiGroups"] and resource in rule["resources"]
            and verb in rule["verbs"]
            and ("resourceNames" not in rule or name in rule["resourceNames"]))


class Rbac:
    """Who may do what, from the chart's objects plus RoleBindings applied in the cluster."""

    def __init__(self, objects: list[dict], applied: list[dict] = ()):
        roles = {o["metadata"]["name"]: o["rules"] for o in objects
                 if o["kind"] == "ClusterRole"}
        mine = [{"kind": "ServiceAccount", "name": "spe-controller", "namespace": NAMESPACE}]
        self.cluster_rules = [r for b in objects if b["kind"] == "ClusterRoleBinding"
                              and b["subjects"] == mine for r in roles[b["roleRef"]["name"]]]
        self.namespaced: dict[str, list] = {}
        for b in [*objects, *applied]:
            if b["kind"] == "RoleBinding" and b["roleRef"]["kind"] == "ClusterRole" \
                    and b["subjects"] == mine:
                ns = b["metadata"].get("namespace", NAMESPACE)
                self.namespaced.setdefault(ns, []).extend(roles[b["roleRef"]["name"]])
        for r in objects:
            if r["kind"] == "Role":
                for b in objects:
                    if b["kind"] == "RoleBinding" and b["roleRef"] == {
                            "apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": r["metadata"]["name"]} and b["subjects"] == mine:
                        self.namespaced.setdefault(NAMESPACE, []).extend(r["rules"])

    def allows(self, verb, group, resource, name=None, namespace=None) -> bool:
        rules = self.cluster_rules + (self.namespaced.get(namespace, []) if namespace else [])
        return any(rule_allows(r, verb, group, resource, name) for r in rules)


def request_attributes(method: str, path: str) -> tuple[str, str, str, str | None, str | None]:
    m = PATH.match(path)
    assert m, path
    verb = VERBS[method]
    if verb == "get" and not m["name"]:
        verb = "list"
    return verb, m["group"] or "", m["resource"], m["name"], m["ns"]


@pytest.fixture(scope="module")
def chart(helm_binary):
    from tests.helm.test_operations import rendered

    return rendered(helm_binary)


@pytest.fixture
def cluster(chart, monkeypatch):
    [container] = pod_templates(chart)["spe-controller"]["containers"]
    return from_settings(loaded(monkeypatch, container_env(chart, container)))


# --- RBAC ----------------------------------------------------------------------------------

def test_cluster_wide_the_controller_holds_only_namespaces_and_its_own_binding(chart):
    [role] = find(chart, "ClusterRole", "-controller")
    granted = {(g, res, verb, tuple(r.get("resourceNames", ())))
               for r in role["rules"] for g in r["apiGroups"] for res in r["resources"]
               for verb in r["verbs"]}
    assert granted == {
        *{("", "namespaces", v, ()) for v in
          ("get", "list", "watch", "create", "patch", "delete")},
        ("rbac.authorization.k8s.io", "rolebindings", "create", ()),
        ("rbac.authorization.k8s.io", "rolebindings", "get", (CONTROLLER_BINDING,)),
        ("rbac.authorization.k8s.io", "rolebindings", "patch", (CONTROLLER_BINDING,)),
        ("rbac.authorization.k8s.io", "clusterroles", "bind", ("spe-controller-project",)),
    }
    rbac = Rbac(chart)
    for verb, resource in (("get", "secrets"), ("list", "secrets"), ("create", "pods"),
                           ("patch", "deployments"), ("create", "roles"),
                           ("patch", "rolebindings")):
        group = {"deployments": "apps", "roles": "rbac.authorization.k8s.io",
                 "rolebindings": "rbac.authorization.k8s.io"}.get(resource, "")
        assert not rbac.allows(verb, group, resource, "x", "kube-system"), (verb, resource)
    assert not rbac.allows("bind", "rbac.authorization.k8s.io", "clusterroles", "cluster-admin")
    assert not rbac.allows("escalate", "rbac.authorization.k8s.io", "clusterroles", "x")


def test_the_project_role_is_bound_by_no_one_cluster_wide(chart):
    bound = {b["roleRef"]["name"] for b in find(chart, "ClusterRoleBinding")}
    assert "spe-controller-project" not in bound
    assert not [b for b in chart if b["kind"] == "RoleBinding"
                and b["roleRef"]["name"] == "spe-controller-project"]


def test_the_rendered_binding_names_the_charts_account_and_project_role(chart, cluster):
    binding = render(make_spec(), cluster)[1]
    assert binding["metadata"]["name"] == CONTROLLER_BINDING
    [account] = [a for a in find(chart, "ServiceAccount", "-controller")]
    assert binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": account["metadata"]["name"],
                                    "namespace": NAMESPACE}]
    assert binding["roleRef"]["name"] in {r["metadata"]["name"]
                                          for r in find(chart, "ClusterRole")}


def test_the_hub_role_fits_inside_the_project_role(chart):
    """Kubernetes refuses to create a Role granting more than its creator holds there."""
    [role] = find(chart, "ClusterRole", "-controller-project")
    for rule in HUB_RULES:
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                for verb in rule["verbs"]:
                    assert any(rule_allows(r, verb, g, res, None) for r in role["rules"])


def test_every_request_of_the_runtime_is_allowed_and_only_in_the_project_namespace(
        chart, cluster, kube, fake_api):
    """Provision, observe, suspend (with the closed page) and delete a workspace against the
    recording API server;
    each request must be allowed by the chart's RBAC as it stands at that moment (the
    project rights only once the controller's binding is in that namespace)."""
    spec = make_spec()
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    runtime.observe(spec.project_id)
    runtime.suspend(spec.project_id)
    runtime.show_closed(spec.project_id, "https://spe.example.org/workspaces/p/closed")
    runtime.ensure(spec)
    runtime.projects()
    runtime.delete(spec.project_id)
    ns = cluster.namespace(spec.project_id)
    applied: list[dict] = []
    for request in fake_api.requests:
        verb, group, resource, name, namespace = request_attributes(request.method,
                                                                    request.path)
        assert Rbac(chart, applied).allows(verb, group, resource, name, namespace), \
            f"{request.method} {request.path} refused"
        assert namespace in (None, ns), request.path
        if request.method == "PATCH" and resource == "rolebindings":
            applied.append(request.body)
    assert len(fake_api.requests) > 40


# --- the admission policy ------------------------------------------------------------------

class Policy:
    """The chart's ValidatingAdmissionPolicy, compiled with cel-python."""

    def __init__(self, obj: dict[str, Any]):
        spec = obj["spec"]
        self.env = celpy.Environment()
        self.match = [self._compile(c["expression"]) for c in spec["matchConditions"]]
        self.variables = [(v["name"], self._compile(v["expression"]))
                          for v in spec["variables"]]
        self.validations = [self._compile(v["expression"]) for v in spec["validations"]]
        self.message = self._compile(spec["validations"][0]["messageExpression"])

    def _compile(self, expression: str):
        return self.env.program(self.env.compile(expression))

    def admits(self, request: dict, obj=None, old=None, namespace=None) -> bool | str:
        """True if admitted (or not matched), else the refusal's message."""
        activation = {"request": celpy.json_to_cel(request),
                      "object": celpy.json_to_cel(obj), "oldObject": celpy.json_to_cel(old),
                      "namespaceObject": celpy.json_to_cel(namespace)}
        if not all(bool(m.evaluate(activation)) for m in self.match):
            return True
        values: dict[str, Any] = {}
        for name, program in self.variables:
            activation["variables"] = celpy.json_to_cel(values)
            values[name] = program.evaluate(activation)
            assert not isinstance(values[name], celpy.CELEvalError), (name, values[name])
        activation["variables"] = celpy.celtypes.MapType(
            {celpy.celtypes.StringType(k): v for k, v in values.items()})
        for program in self.validations:
            result = program.evaluate(activation)
            assert isinstance(result, celpy.celtypes.BoolType), result
            if not result:
                return str(self.message.evaluate(activation))
        return True


def admission(operation, resource, name, namespace="", group="", user=SA):
    return {"operation": operation, "name": name, "namespace": namespace,
            "resource": {"group": group, "version": "v1", "resource": resource},
            "userInfo": {"username": user}}


PROJECT_NS = {"metadata": {"name": "spe-p1", "labels": {
    "spe.io/project": "p1", "app.kubernetes.io/managed-by": "spe",
    "pod-security.kubernetes.io/enforce": "restricted"}}}
KUBE_SYSTEM = {"metadata": {"name": "kube-system", "labels": {
    "kubernetes.io/metadata.name": "kube-system"}}}


@pytest.fixture(scope="module")
def policy(chart):
    [vap] = find(chart, "ValidatingAdmissionPolicy")
    [binding] = find(chart, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": vap["metadata"]["name"],
                               "validationActions": ["Deny"]}
    assert vap["spec"]["failurePolicy"] == "Fail"
    rules = vap["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [{"apiGroups": ["*"], "apiVersions": ["*"],
                      "operations": ["CREATE", "UPDATE", "DELETE"],
                      "resources": ["*", "*/*"]}]
    return Policy(vap)


def test_every_object_of_a_workspace_is_admitted(policy, cluster):
    objects = render(make_spec("p1"), cluster) + closed_page(
        "p1", cluster, "hub:1", "https://spe.example.org/workspaces/p1/closed")
    namespace = objects[0]
    assert policy.admits(admission("CREATE", "namespaces", namespace["metadata"]["name"]),
                         obj=namespace) is True
    for obj in objects[1:]:
        resource = RESOURCES[(obj["apiVersion"], obj["kind"])].plural
        group = obj["apiVersion"].rpartition("/")[0]
        request = admission("CREATE", resource, obj["metadata"]["name"],
                            obj["metadata"]["namespace"], group)
        assert policy.admits(request, obj=obj, namespace=namespace) is True, obj["kind"]
    assert policy.admits(admission("DELETE", "namespaces", "spe-p1"), old=namespace) is True


def test_the_lease_in_the_release_namespace_is_admitted(policy):
    lease = admission("UPDATE", "leases", "spe-controller", NAMESPACE, "coordination.k8s.io")
    assert policy.admits(lease, namespace={"metadata": {"name": NAMESPACE}}) is True


@pytest.mark.parametrize(("request_", "kwargs"), [
    (admission("CREATE", "secrets", "loot", "kube-system"), {"namespace": KUBE_SYSTEM}),
    (admission("CREATE", "rolebindings", CONTROLLER_BINDING, "kube-system",
               "rbac.authorization.k8s.io"), {"namespace": KUBE_SYSTEM}),
    (admission("DELETE", "deployments", "coredns", "kube-system", "apps"),
     {"namespace": KUBE_SYSTEM}),
    (admission("UPDATE", "namespaces", "kube-system"),
     {"old": KUBE_SYSTEM, "obj": {"metadata": {"name": "kube-system",
                                               "labels": PROJECT_NS["metadata"]["labels"]}}}),
    (admission("DELETE", "namespaces", "kube-system"), {"old": KUBE_SYSTEM}),
    (admission("DELETE", "namespaces", "spe-system"),
     {"old": {"metadata": {"name": "spe-system", "labels": {}}}}),
    (admission("CREATE", "namespaces", "evil"),
     {"obj": {"metadata": {"name": "evil", "labels": PROJECT_NS["metadata"]["labels"]}}}),
    (admission("CREATE", "namespaces", "spe-unlabelled"),
     {"obj": {"metadata": {"name": "spe-unlabelled"}}}),
    (admission("UPDATE", "namespaces", "spe-p1"),
     {"old": PROJECT_NS, "obj": {"metadata": {"name": "spe-p1", "labels": {
         **PROJECT_NS["metadata"]["labels"],
         "pod-security.kubernetes.io/enforce": "privileged"}}}}),
    (admission("CREATE", "clusterrolebindings", "mine", "", "rbac.authorization.k8s.io"),
     {}),
    (admission("UPDATE", "leases", "kube-scheduler", "kube-system", "coordination.k8s.io"),
     {"namespace": KUBE_SYSTEM}),
    (admission("CREATE", "configmaps", "x", "spe-system"),
     {"namespace": {"metadata": {"name": "spe-system"}}}),
])
def test_writes_outside_project_namespaces_are_refused(policy, request_, kwargs):
    verdict = policy.admits(request_, **kwargs)
    assert verdict is not True
    assert verdict.startswith("spe controller confinement: " + request_["operation"])


def test_other_users_are_not_matched(policy):
    request = admission("CREATE", "secrets", "x", "kube-system",
                        user="system:serviceaccount:kube-system:replicaset-controller")
    assert policy.admits(request, namespace=KUBE_SYSTEM) is True
