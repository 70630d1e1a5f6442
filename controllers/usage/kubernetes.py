"""The Kubernetes runtime's meter: the metrics API, pod specs and volume claims.

Per project namespace, each sample reads ``metrics.k8s.io/v1beta1`` PodMetrics (the CPU and
memory each pod's containers use now, as metrics-server last measured them over its window)
and multiplies the rates by the time since the previous sample: CPU-seconds and GiB-seconds
are estimates from periodic rates, not cumulative counters. GPUs are not in the metrics API:
GPU-seconds are the GPUs *allocated* to running pods (their containers' extended-resource
limits, e.g. ``nvidia.com/gpu``) times time. Storage is the capacity of the namespace's
volume claims (allocated, not bytes written). A pod is attributed to the member named by
KubeSpawner's ``hub.jupyter.org/username`` annotation (or label); other pods (the hub, the
extract Job) are the project's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from controllers.runtimes.kubernetes.client import KubeClient, Resource
from controllers.runtimes.kubernetes.settings import ClusterSettings
from spe.domain.usage import GIB, PROJECT, Sample

POD_METRICS = Resource("metrics.k8s.io/v1beta1", "PodMetrics", "pods")
PODS = Resource("v1", "Pod", "pods")
CLAIMS = Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
USERNAME = "hub.jupyter.org/username"
STANDARD_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage", "hugepages"})
EXTRACT_CLAIM_PREFIX = "extract-"


def member_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return (meta.get("annotations", {}).get(USERNAME) or meta.get("labels", {}).get(USERNAME)
            or PROJECT)


def gpus_of(pod: dict[str, Any]) -> dict[str, int]:
    """Extended resources (GPUs, MIG slices) a pod's containers are given, by name."""
    found: dict[str, int] = {}
    for container in pod.get("spec", {}).get("containers", []):
        for name, amount in container.get("resources", {}).get("limits", {}).items():
            if "/" in name and not name.startswith("hugepages"):
                found[name] = found.get(name, 0) + int(parse_quantity(amount))
    return found


class KubernetesUsageMeter:
    def __init__(self, client: KubeClient, cluster: ClusterSettings,
                 projects: Callable[[], set[str]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.cluster, self.projects = client, cluster, projects
        self._clock = clock
        self._last: float | None = None

    def sample(self) -> list[Sample]:
        now = self._clock()
        elapsed = 0.0 if self._last is None else now - self._last
        self._last = now
        samples: list[Sample] = []
        for project_id in sorted(self.projects()):
            samples += self._project(project_id, elapsed)
        return samples

    def _project(self, project_id: str, elapsed: float) -> list[Sample]:
        ns = self.cluster.namespace(project_id)
        totals: dict[str, Sample] = {PROJECT: Sample(project_id, storage_bytes=0,
                                                      extract_bytes=0, extract_copies=0)}

        def of(member: str) -> Sample:
            return totals.setdefault(member, Sample(project_id, member))

        pods = {p["metadata"]["name"]: p for p in self.client.list(PODS.path(ns), {})}
        for metrics in self.client.list(POD_METRICS.path(ns), {}):
            pod = pods.get(metrics["metadata"]["name"], metrics)
            containers = metrics.get("containers", [])
            cores = sum(float(parse_quantity(c["usage"]["cpu"])) for c in containers)
            memory = int(sum(parse_quantity(c["usage"]["memory"]) for c in containers))
            sample = of(member_of(pod))
            sample.cpu_seconds += cores * elapsed
            sample.memory_gib_seconds += memory / GIB * elapsed
            sample.memory_bytes += memory
        for pod in pods.values():
            if pod.get("status", {}).get("phase") != "Running":
                continue
            sample = of(member_of(pod))
            for resource, count in gpus_of(pod).items():
                sample.gpu_seconds[resource] = sample.gpu_seconds.get(resource, 0.0) \
                    + count * elapsed
        for claim in self.client.list(CLAIMS.path(ns), {}):
            size = int(parse_quantity(claim.get("status", {}).get("capacity", {})
                                      .get("storage", "0")))
            member = member_of(claim)
            if member == PROJECT and claim["metadata"]["name"].startswith(EXTRACT_CLAIM_PREFIX):
                totals[PROJECT].extract_bytes += size
                totals[PROJECT].extract_copies += 1  # one volume per extract version
            else:
                sample = of(member)
                sample.storage_bytes = (sample.storage_bytes or 0) + size
        return list(totals.values())
