"""A suspended workspace's address on Kubernetes: spe's page with the reason, as on the local
runtime (the same script, run in the hub's image by a small Deployment the hub's Service
selects while the hub is scaled to zero)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import kubernetes_validate
import pytest

from controllers.runtimes.base import WorkspacePhase
from controllers.runtimes.kubernetes.render import (
    CLOSED_SCRIPT,
    closed_page,
    render,
)
from controllers.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.fixtures.kubernetes import KUBERNETES_VERSIONS
from testsupport.restricted import restricted_violations

NS = "spe-p-7f3a9c12"
TARGET = "https://spe.example.org/workspaces/p-7f3a9c12/closed"
HUB_IMAGE = "registry.example/spe-hub@sha256:" + "ab" * 32
CLOSED = f"/apis/apps/v1/namespaces/{NS}/deployments/closed"
SCRIPT = f"/api/v1/namespaces/{NS}/configmaps/closed-page"
POLICY = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/closed"
HUB = f"/apis/apps/v1/namespaces/{NS}/deployments/hub"


def by_kind(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_closed_page_objects_validate_strictly(cluster, version):
    for obj in closed_page("p-7f3a9c12", cluster, HUB_IMAGE, TARGET):
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_hubs_service_selects_the_closed_page_and_neither_deployment_the_others_pods(
        spec, cluster):
    objects = render(spec, cluster)
    service = by_kind(objects, "Service", "hub")["spec"]["selector"]
    hub = by_kind(objects, "Deployment", "hub")["spec"]
    closed = by_kind(closed_page(spec.project_id, cluster, HUB_IMAGE, TARGET), "Deployment",
                     "closed")["spec"]
    hub_pod, closed_pod = (d["template"]["metadata"]["labels"] for d in (hub, closed))
    assert matches(service, hub_pod) and matches(service, closed_pod)
    assert not matches(hub["selector"]["matchLabels"], closed_pod)
    assert not matches(closed["selector"]["matchLabels"], hub_pod)
    ports = {p["targetPort"] for p in by_kind(objects, "Service", "hub")["spec"]["ports"]}
    assert "http" in ports and closed["template"]["spec"]["containers"][0]["ports"] == [
        {"name": "http", "containerPort": 8000}]


def test_the_closed_pod_is_restricted_holds_nothing_and_reaches_nothing(cluster):
    objects = closed_page("p-7f3a9c12", cluster, HUB_IMAGE, TARGET)
    pod = by_kind(objects, "Deployment", "closed")["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    assert pod["volumes"] == [{"name": "script", "configMap": {"name": "closed-page"}}]
    container = pod["containers"][0]
    assert container["image"] == HUB_IMAGE and "env" not in container
    assert container["command"][-2:] == ["--target", TARGET]
    assert container["resources"]["limits"]  # the namespace's quota needs them
    policy = by_kind(objects, "NetworkPolicy", "closed")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and "egress" not in policy
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    [peer] = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": cluster.ingress_namespace}
    assert peer["podSelector"]["matchLabels"] == cluster.ingress_pod_labels


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_mounted_script_is_the_local_runtimes_and_runs_on_the_standard_library(
        cluster, tmp_path):
    """What the pod runs: the ConfigMap's copy of controllers/runtimes/closed.py, started as
    the container's command says, in an isolated interpreter (no site-packages, as in the
    hub image, which has no spe)."""
    config = by_kind(closed_page("p-7f3a9c12", cluster, HUB_IMAGE, TARGET), "ConfigMap",
                     "closed-page")
    assert config["data"] == {CLOSED_SCRIPT.name: CLOSED_SCRIPT.read_text(encoding="utf-8")}
    script = tmp_path / CLOSED_SCRIPT.name
    script.write_text(config["data"][CLOSED_SCRIPT.name])
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-I", "-S", str(script), "--host", "127.0.0.1",
                             "--port", str(port), "--target", TARGET])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/user/alice/lab?x=1")
                break
            except httpx.TransportError:
                assert proc.poll() is None, "the script exited"
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 303 and response.headers["location"] == TARGET
        assert response.headers["cache-control"] == "no-store"
        posted = httpx.post(f"http://127.0.0.1:{port}/hub/api/users", json={})
        assert posted.status_code == 303 and posted.headers["location"] == TARGET
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_suspended_workspace_shows_the_closed_page_until_ensure(kube, fake_api, spec,
                                                                  cluster):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    runtime.show_closed(spec.project_id, TARGET)  # running: the hub answers, nothing added
    assert fake_api.get_object(CLOSED) is None
    before = runtime.suspend(spec.project_id)
    runtime.show_closed(spec.project_id, TARGET)
    closed = fake_api.get_object(CLOSED)["spec"]["template"]["spec"]["containers"][0]
    hub_image = fake_api.get_object(HUB)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert closed["image"] == hub_image and closed["command"][-1] == TARGET
    assert fake_api.get_object(SCRIPT) and fake_api.get_object(POLICY)
    observed = runtime.observe(spec.project_id)
    assert observed.phase is WorkspacePhase.SUSPENDED
    assert observed.message == before.message  # the closed page is not drift
    writes = len(fake_api.writes())
    runtime.show_closed(spec.project_id, TARGET)  # every reconcile pass: nothing rewritten
    assert len(fake_api.writes()) == writes
    assert runtime.ensure(spec).phase is WorkspacePhase.READY  # resumed: the hub again
    assert [fake_api.get_object(p) for p in (CLOSED, SCRIPT, POLICY)] == [None] * 3
    assert fake_api.get_object(HUB)["spec"]["replicas"] == 1


def test_a_deleted_closed_page_comes_back_on_the_next_pass(kube, fake_api, spec, cluster):
    runtime = KubernetesRuntime(cluster, kube)
    runtime.ensure(spec)
    runtime.suspend(spec.project_id)
    runtime.show_closed(spec.project_id, TARGET)
    kube.delete(CLOSED)
    runtime.show_closed(spec.project_id, TARGET)
    assert fake_api.get_object(CLOSED) is not None
