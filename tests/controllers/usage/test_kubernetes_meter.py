"""The Kubernetes meter reads PodMetrics, pod specs and claims through the recording API."""

from __future__ import annotations

import pytest

from controllers.usage.kubernetes import KubernetesUsageMeter
from spe.domain.usage import GIB, PROJECT

NS = "spe-p-7f3a9c12"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pod(name: str, user: str | None, phase: str = "Running", gpus: int = 0) -> dict:
    meta = {"name": name, "namespace": NS, "labels": {"component": "singleuser-server"}}
    if user:
        meta["annotations"] = {"hub.jupyter.org/username": user}
    limits = {"cpu": "2", "memory": "4Gi", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "notebook", "resources": {"limits": limits}}]},
            "status": {"phase": phase}}


def _metrics(name: str, *containers: tuple[str, str]) -> dict:
    return {"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": NS}, "window": "15s",
            "containers": [{"name": f"c{i}", "usage": {"cpu": cpu, "memory": memory}}
                           for i, (cpu, memory) in enumerate(containers)]}


def _claim(name: str, size: str, user: str | None = None) -> dict:
    meta = {"name": name, "namespace": NS}
    if user:
        meta["labels"] = {"hub.jupyter.org/username": user}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "status": {"capacity": {"storage": size}}}


@pytest.fixture
def cluster_objects(fake_api):
    put = fake_api.put_object
    put(f"/api/v1/namespaces/{NS}/pods/jupyter-alice", _pod("jupyter-alice", "alice", gpus=1))
    put(f"/api/v1/namespaces/{NS}/pods/jupyter-bob", _pod("jupyter-bob", "bob"))
    put(f"/api/v1/namespaces/{NS}/pods/hub-0", _pod("hub-0", None))
    base = f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods"
    put(f"{base}/jupyter-alice", _metrics("jupyter-alice", ("1500m", "1Gi"), ("500m", "1Gi")))
    put(f"{base}/jupyter-bob", _metrics("jupyter-bob", ("250000000n", "512Mi")))
    put(f"{base}/hub-0", _metrics("hub-0", ("100m", "256Mi")))
    put(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/work-alice",
        _claim("work-alice", "10Gi", "alice"))
    put(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/project", _claim("project", "20Gi"))
    put(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/extract-0123456789ab",
        _claim("extract-0123456789ab", "50Gi"))


def test_rates_times_the_interval_per_member_gpus_allocated_and_claims(
        kube, cluster, fake_api, cluster_objects):
    clock = Clock()
    meter = KubernetesUsageMeter(kube, cluster, lambda: {"p-7f3a9c12"}, clock=clock)
    meter.sample()  # the first look: no interval yet
    clock.now += 60
    by_member = {s.member: s for s in meter.sample()}

    alice, bob, project = by_member["alice"], by_member["bob"], by_member[PROJECT]
    assert alice.cpu_seconds == pytest.approx(2.0 * 60)
    assert alice.memory_gib_seconds == pytest.approx(2.0 * 60)
    assert alice.memory_bytes == 2 * GIB
    assert alice.gpu_seconds == {"nvidia.com/gpu": pytest.approx(60)}
    assert alice.storage_bytes == 10 * GIB
    assert bob.cpu_seconds == pytest.approx(0.25 * 60)
    assert bob.gpu_seconds == {} and bob.storage_bytes is None
    assert project.cpu_seconds == pytest.approx(0.1 * 60)
    assert project.storage_bytes == 20 * GIB and project.extract_bytes == 50 * GIB
    assert project.extract_copies == 1  # one extract volume for both members
    paths = {r.path for r in fake_api.requests}
    assert f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods" in paths
    assert all(r.method == "GET" for r in fake_api.requests)


def test_pods_not_running_hold_no_gpu_time(kube, cluster, fake_api):
    fake_api.put_object(f"/api/v1/namespaces/{NS}/pods/jupyter-alice",
                        _pod("jupyter-alice", "alice", phase="Pending", gpus=2))
    clock = Clock()
    meter = KubernetesUsageMeter(kube, cluster, lambda: {"p-7f3a9c12"}, clock=clock)
    meter.sample()
    clock.now += 30
    samples = meter.sample()
    assert all(s.gpu_seconds == {} for s in samples)
    assert sum(s.cpu_seconds for s in samples) == 0


def test_a_new_extract_version_counts_two_copies_until_the_old_one_is_pruned(
        kube, cluster, fake_api, cluster_objects):
    meter = KubernetesUsageMeter(kube, cluster, lambda: {"p-7f3a9c12"}, clock=Clock())
    fake_api.put_object(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/extract-ba9876543210",
                        _claim("extract-ba9876543210", "50Gi"))
    [project] = [s for s in meter.sample() if s.member == PROJECT]
    assert project.extract_copies == 2 and project.extract_bytes == 100 * GIB
