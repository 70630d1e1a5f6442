import dataclasses

import pytest

from controllers.runtimes.base import WorkspacePhase
from controllers.runtimes.kubernetes.runtime import KubernetesRuntime

NS = "spe-p-7f3a9c12"
HUB = f"/apis/apps/v1/namespaces/{NS}/deployments/hub"


def server_pod(name, user, phase="Running"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"component": "singleuser-server",
                                    "hub.jupyter.org/username": user},
                         "annotations": {"hub.jupyter.org/username": user}},
            "status": {"phase": phase}}


def test_ensure_provisions_and_reports_ready(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    assert runtime.observe(spec.project_id).phase is WorkspacePhase.ABSENT
    observed = runtime.ensure(spec)
    assert observed.phase is WorkspacePhase.READY, observed.message
    assert observed.url == "https://p-7f3a9c12.ws.example.org/"
    assert runtime.projects() == {spec.project_id}
    assert fake_api.get_object(f"/api/v1/namespaces/{NS}/secrets/extract-grant")


def test_a_changed_spec_updates_and_prunes(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    runtime.ensure(dataclasses.replace(spec, extract=None))
    assert fake_api.get_object(f"/api/v1/namespaces/{NS}/secrets/extract-grant") is None


QUOTA = f"/api/v1/namespaces/{NS}/resourcequotas/workspace"


def test_drift_is_reported_until_a_complete_apply_repairs_it(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube, reapply_seconds=0)  # every ensure applies all
    runtime.ensure(spec)
    wanted = fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"]
    fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"] = "5"
    observed = runtime.observe(spec.project_id)
    assert observed.phase is WorkspacePhase.PROVISIONING
    assert "services.loadbalancers" in observed.message
    assert runtime.ensure(spec).phase is WorkspacePhase.READY
    assert fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"] == wanted


def test_an_unchanged_spec_is_not_applied_again_within_the_window(kube, fake_api, spec,
                                                                  cluster):
    """The steady state of a resync: the Namespace (with the spec's hash), the hub, its
    servers read; nothing written. Within the window an edited quota stays edited."""
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"] = "5"
    fake_api.requests.clear()
    observed = runtime.ensure(spec)
    assert observed.phase is WorkspacePhase.READY and observed.url
    assert [(r.method, r.path) for r in fake_api.requests] == [
        ("GET", f"/api/v1/namespaces/{NS}"), ("GET", HUB),
        ("GET", f"/api/v1/namespaces/{NS}/pods")]
    assert fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"] == "5"


@pytest.mark.parametrize("change", ["spec", "hash", "hub gone", "hub scaled down", "restart",
                                    "window passed"])
def test_anything_but_the_steady_state_applies_everything(kube, fake_api, spec, cluster,
                                                          change):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"] = "5"
    namespace = fake_api.get_object(f"/api/v1/namespaces/{NS}")
    if change == "spec":
        spec = dataclasses.replace(spec, users=("alice",))
    elif change == "hash":  # another replica applied another spec meanwhile
        namespace["metadata"]["annotations"]["spe.io/spec-hash"] = "0" * 64
    elif change == "hub gone":
        fake_api.handle("DELETE", HUB, {}, None, None)
    elif change == "hub scaled down":
        fake_api.get_object(HUB)["spec"]["replicas"] = 0
    elif change == "restart":
        runtime = KubernetesRuntime(cluster, kube)
    else:
        runtime.reapply_seconds = 0
    assert runtime.ensure(spec).phase is WorkspacePhase.READY
    assert fake_api.get_object(QUOTA)["spec"]["hard"]["services.loadbalancers"] != "5"
    assert fake_api.get_object(HUB)["spec"]["replicas"] == 1


def test_suspend_scales_the_hub_down_and_stops_servers(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    fake_api.put_object(f"/api/v1/namespaces/{NS}/pods/jupyter-alice", server_pod(
        "jupyter-alice", "alice"))
    fake_api.put_object(f"/api/v1/namespaces/{NS}/pods/jupyter-bob", server_pod(
        "jupyter-bob", "bob", phase="Pending"))
    assert runtime.observe(spec.project_id).servers == ("alice",)
    observed = runtime.suspend(spec.project_id)
    assert observed.phase is WorkspacePhase.SUSPENDED
    assert observed.servers == ()
    scale = [r for r in fake_api.requests if r.method == "PATCH" and r.path == HUB][-1]
    assert scale.query["fieldManager"] == "spe-suspend"
    assert scale.body["spec"] == {"replicas": 0}
    assert fake_api.get_object(HUB)["spec"]["template"]  # the rest of the hub is kept
    assert fake_api.get_object(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/hub-db")
    # ensure brings it back (force takes replicas over from the suspend manager)
    assert runtime.ensure(spec).phase is WorkspacePhase.READY
    assert fake_api.get_object(HUB)["spec"]["replicas"] == 1


def test_suspending_or_deleting_nothing_is_fine(kube, fake_api, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    assert runtime.suspend("p-absent").phase is WorkspacePhase.ABSENT
    runtime.delete("p-absent")
    assert fake_api.writes() == []


def test_delete_removes_the_namespace(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    runtime.delete(spec.project_id)
    assert runtime.observe(spec.project_id).phase is WorkspacePhase.ABSENT
    assert runtime.projects() == set()
    assert [r.path for r in fake_api.requests if r.method == "DELETE"] == [
        f"/api/v1/namespaces/{NS}"]


def test_a_hub_not_yet_ready_is_provisioning(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    fake_api.get_object(HUB)["status"] = {"readyReplicas": 0}
    observed = KubernetesRuntime(cluster, kube).observe(spec.project_id)  # no drift memory
    assert observed.phase is WorkspacePhase.PROVISIONING
    assert observed.message == "hub not ready"


def test_a_refusal_right_after_the_controllers_binding_is_created_is_retried(
        kube, fake_api, spec, cluster, monkeypatch):
    """RBAC sees a new RoleBinding after a moment: a 403 then is not the project's fault."""
    from controllers.runtimes.kubernetes.client import KubeTerminalError
    from spe.errors import RetryableError, TerminalError

    runtime = KubernetesRuntime(cluster, kube)
    real_apply = kube.apply

    def forbidden_quota(path, obj, field_manager):
        if obj["kind"] == "ResourceQuota":
            raise KubeTerminalError(f"PATCH {path}: 403 forbidden", 403)
        return real_apply(path, obj, field_manager)

    monkeypatch.setattr(kube, "apply", forbidden_quota)
    with pytest.raises(RetryableError, match="just created"):
        runtime.ensure(spec)
    # the binding exists now: the same refusal is the operator's to fix, not retried forever
    with pytest.raises(TerminalError, match="403") as refused:
        runtime.ensure(spec)
    assert not isinstance(refused.value, RetryableError)
    monkeypatch.setattr(kube, "apply", real_apply)
    assert runtime.ensure(spec).phase is WorkspacePhase.READY
