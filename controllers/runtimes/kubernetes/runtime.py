"""The ``kubernetes`` runtime: render, apply and prune, observe.

Rendering is :mod:`.render` (pure), writing is :mod:`.apply` (generic), and this class only
strings them together per project and reads the hub's state back.

Re-applying a project's twenty-odd objects is the costly part of a resync, and in the
steady state it changes nothing. So :meth:`KubernetesRuntime.ensure` skips it when this
runtime applied the very same spec completely less than ``reapply_seconds`` ago, the
project's Namespace still carries that spec's hash (annotation ``spe.io/spec-hash``; another
replica that applied something else since changed it) and the hub's Deployment is there and
not scaled down: two reads instead of some seventy requests. Any change of the spec (members,
profile, a renewed extract grant) applies everything at once; an object edited behind spe's
back is put right at the next complete apply, at the latest ``reapply_seconds`` later (or
at once if it was the Namespace or the hub), and always after a restart of the controller.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import Any, ClassVar

from kubernetes import config

from controllers.runtimes.base import ObservedWorkspace, Runtime, WorkspacePhase
from controllers.runtimes.kubernetes.apply import RESOURCES, Outcome, apply, prune, resource_of
from controllers.runtimes.kubernetes.client import (
    KubeClient,
    KubeRetryableError,
    KubeTerminalError,
    Resource,
)
from controllers.runtimes.kubernetes.diff import diff
from controllers.runtimes.kubernetes.render import (
    CLOSED_NAME,
    COMPONENT_LABEL,
    HUB_NAME,
    MANAGED_BY,
    PROJECT_LABEL,
    closed_page,
    prune_selector,
    render,
)
from controllers.runtimes.kubernetes.settings import ClusterSettings, from_settings
from spe.settings import Settings
from workspaces.kubernetes import SERVER_COMPONENT
from workspaces.spec import WorkspaceSpec

NAMESPACES = RESOURCES[("v1", "Namespace")]
DEPLOYMENTS = RESOURCES[("apps/v1", "Deployment")]
PODS = Resource("v1", "Pod", "pods")
SERVER_PODS = {"component": SERVER_COMPONENT}
USERNAME_ANNOTATION = "hub.jupyter.org/username"
SPEC_HASH = "spe.io/spec-hash"
REAPPLY_SECONDS = 3600.0
"""At the latest, how long after its last complete apply a project's objects are applied
again although its spec did not change (drift the two reads of the steady state miss)."""


def spec_hash(spec: WorkspaceSpec, cluster: ClusterSettings) -> str:
    """What the rendered objects follow from (they are a pure function of the two)."""
    both = {"spec": dataclasses.asdict(spec), "cluster": dataclasses.asdict(cluster)}
    return hashlib.sha256(json.dumps(both, sort_keys=True, default=str).encode()).hexdigest()


class KubernetesRuntime(Runtime):
    """One namespace per project; see :mod:`controllers.runtimes.kubernetes.render`."""

    name: ClassVar[str] = "kubernetes"

    def __init__(self, cluster: ClusterSettings, client: KubeClient | None = None,
                 field_manager: str = "spe", reapply_seconds: float = REAPPLY_SECONDS):
        self.cluster = cluster
        self.client = client or KubeClient()
        self.field_manager = field_manager
        self.reapply_seconds = reapply_seconds
        self._desired: dict[str, list[dict[str, Any]]] = {}  # last applied, for drift
        self._closed: dict[str, str] = {}  # suspended projects' closed page targets
        self._applied: dict[str, tuple[str, float]] = {}  # last complete apply: hash, when

    @classmethod
    def from_settings(cls, settings: Settings) -> KubernetesRuntime:
        """For the cluster the ``SPE_KUBERNETES_*`` settings describe, reached in-cluster
        (the Helm chart) or through the kubeconfig."""
        cluster = from_settings(settings)
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return cls(cluster)

    def encrypts_work_areas(self) -> bool:
        return self.cluster.encrypts_work_areas

    def ensure(self, spec: WorkspaceSpec) -> ObservedWorkspace:
        digest = spec_hash(spec, self.cluster)
        unchanged = self._unchanged(spec.project_id, digest)
        if unchanged is not None:
            return unchanged
        self._applied.pop(spec.project_id, None)
        objects = render(spec, self.cluster)
        namespace = objects[0]
        annotations = {**namespace["metadata"].get("annotations", {}), SPEC_HASH: digest}
        objects[0] = {**namespace, "metadata": {**namespace["metadata"],
                                                "annotations": annotations}}
        # The Namespace and the controller's RoleBinding in it first: every other object is
        # written with the rights that binding grants.
        access = apply(self.client, objects[:2], self.field_manager)
        try:
            apply(self.client, objects[2:], self.field_manager)
        except KubeTerminalError as exc:
            if exc.status == 403 and Outcome.CREATED in {c.outcome for c in access}:
                # RBAC takes a moment to see a binding just created: try again later
                raise KubeRetryableError(f"{exc} (the controller's RoleBinding in "
                                         f"{self.cluster.namespace(spec.project_id)} was just "
                                         "created)", 403) from exc
            raise
        prune(self.client, objects, prune_selector(spec.project_id))  # the closed page too
        self._stop_departed(self.cluster.namespace(spec.project_id), set(spec.users))
        self._closed.pop(spec.project_id, None)
        self._desired[spec.project_id] = objects
        observed = self.observe(spec.project_id)
        self._applied[spec.project_id] = (digest, time.monotonic())
        return observed

    def _unchanged(self, project_id: str, digest: str) -> ObservedWorkspace | None:
        """The workspace as it is, if ``digest`` needs no apply (module docstring), else
        ``None``."""
        last = self._applied.get(project_id)
        if last is None or last[0] != digest or \
                time.monotonic() - last[1] >= self.reapply_seconds:
            return None
        ns = self.cluster.namespace(project_id)
        namespace = self.client.get(NAMESPACES.path(name=ns))
        if namespace is None or namespace["metadata"].get("deletionTimestamp") or \
                namespace["metadata"].get("annotations", {}).get(SPEC_HASH) != digest:
            return None
        hub = self.client.get(DEPLOYMENTS.path(ns, HUB_NAME))
        if hub is None or hub.get("spec", {}).get("replicas") == 0:
            return None
        url = f"https://{self.cluster.host(project_id)}/"
        if hub.get("status", {}).get("readyReplicas", 0) < 1:
            return ObservedWorkspace(project_id, WorkspacePhase.PROVISIONING, url,
                                     "hub not ready", self._servers(ns))
        return ObservedWorkspace(project_id, WorkspacePhase.READY, url,
                                 servers=self._servers(ns))

    def suspend(self, project_id: str) -> ObservedWorkspace:
        """Scale the hub to zero (no logins) and stop every server; volumes stay."""
        ns = self.cluster.namespace(project_id)
        if self.client.get(NAMESPACES.path(name=ns)) is None:
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT)
        hub = self.client.get(DEPLOYMENTS.path(ns, HUB_NAME))
        if hub is not None and hub.get("spec", {}).get("replicas") != 0:
            # its own field manager: the next ensure() takes replicas back (force=true)
            scale_down = {"apiVersion": DEPLOYMENTS.api_version, "kind": DEPLOYMENTS.kind,
                          "metadata": {"name": HUB_NAME, "namespace": ns},
                          "spec": {"replicas": 0}}
            self.client.apply(DEPLOYMENTS.path(ns, HUB_NAME), scale_down,
                              f"{self.field_manager}-suspend")
        for pod in self.client.list(PODS.path(ns), SERVER_PODS):
            self.client.delete(PODS.path(ns, pod["metadata"]["name"]))
        return self.observe(project_id)

    def show_closed(self, project_id: str, page_url: str) -> None:
        """While the hub is scaled to zero, a small pod in the hub's image answers at the
        workspace's address with a redirect to ``page_url`` (:func:`.render.closed_page`);
        the next :meth:`ensure` prunes it."""
        ns = self.cluster.namespace(project_id)
        hub = self.client.get(DEPLOYMENTS.path(ns, HUB_NAME))
        if hub is None or hub.get("spec", {}).get("replicas") != 0:
            return  # not suspended (or gone): the hub answers, or nothing is there
        if self._closed.get(project_id) == page_url and \
                self.client.get(DEPLOYMENTS.path(ns, CLOSED_NAME)) is not None:
            return
        image = hub["spec"]["template"]["spec"]["containers"][0]["image"]
        apply(self.client, closed_page(project_id, self.cluster, image, page_url),
              self.field_manager)
        self._closed[project_id] = page_url

    def delete(self, project_id: str) -> None:
        self._closed.pop(project_id, None)
        self._desired.pop(project_id, None)
        self._applied.pop(project_id, None)
        prune(self.client, [], prune_selector(project_id))

    def observe(self, project_id: str) -> ObservedWorkspace:
        ns = self.cluster.namespace(project_id)
        namespace = self.client.get(NAMESPACES.path(name=ns))
        if namespace is None:
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT)
        if namespace["metadata"].get("deletionTimestamp"):
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT, message="being deleted")
        url = f"https://{self.cluster.host(project_id)}/"
        drift = self._drift(project_id, namespace)
        hub = self.client.get(DEPLOYMENTS.path(ns, HUB_NAME))
        servers = self._servers(ns)
        if hub is None:
            return ObservedWorkspace(project_id, WorkspacePhase.PROVISIONING, url,
                                     drift or "hub deployment missing", servers)
        if hub.get("spec", {}).get("replicas") == 0:
            return ObservedWorkspace(project_id, WorkspacePhase.SUSPENDED, url, drift, servers)
        ready = hub.get("status", {}).get("readyReplicas", 0) >= 1
        phase = WorkspacePhase.READY if ready and not drift else WorkspacePhase.PROVISIONING
        message = drift or ("" if ready else "hub not ready")
        return ObservedWorkspace(project_id, phase, url, message, servers)

    def projects(self) -> set[str]:
        namespaces = self.client.list(NAMESPACES.path(), MANAGED_BY)
        return {ns["metadata"]["labels"][PROJECT_LABEL] for ns in namespaces
                if PROJECT_LABEL in ns["metadata"].get("labels", {})}

    def _servers(self, ns: str) -> tuple[str, ...]:
        pods = self.client.list(PODS.path(ns), SERVER_PODS)
        return tuple(sorted(_username(p) for p in pods
                            if p.get("status", {}).get("phase") == "Running"))

    def _stop_departed(self, ns: str, users: set[str]) -> None:
        """Delete the server pods of users the permit no longer names (an amendment): the
        hub keeps servers across its restart (``cleanup_servers`` is off), so without this
        a member amended away would keep her running server, and the project folder and
        extract it mounts. Her work-area claim stays, as on the local runtime."""
        for pod in self.client.list(PODS.path(ns), SERVER_PODS):
            if _username(pod) not in users:
                self.client.delete(PODS.path(ns, pod["metadata"]["name"]))

    def _drift(self, project_id: str, namespace: dict[str, Any]) -> str:
        """How the namespace differs from what this runtime last applied ('' if unknown)."""
        desired = self._desired.get(project_id)
        if desired is None:
            return ""
        ns = namespace["metadata"]["name"]
        selector = prune_selector(project_id)
        kinds = sorted({(o["apiVersion"], o["kind"]) for o in desired} - {
            (NAMESPACES.api_version, NAMESPACES.kind)})
        observed = [{"apiVersion": NAMESPACES.api_version, "kind": NAMESPACES.kind, **namespace}]
        for api_version, kind in kinds:
            resource = resource_of({"apiVersion": api_version, "kind": kind})
            observed += [{"apiVersion": api_version, "kind": kind, **found}
                         for found in self.client.list(resource.path(ns), selector)
                         if found["metadata"].get("labels", {}).get(COMPONENT_LABEL)
                         != CLOSED_NAME]  # the closed page is not drift
        differences = diff(desired, observed)
        if not differences:
            return ""
        return f"{len(differences)} difference(s) from the desired state, first: " \
               f"{differences[0]}"


def _username(pod: dict[str, Any]) -> str:
    """The hub user a server pod belongs to (KubeSpawner's annotation holds the name as is,
    its label an escaped form)."""
    meta = pod["metadata"]
    return meta.get("annotations", {}).get(USERNAME_ANNOTATION) \
        or meta.get("labels", {}).get("hub.jupyter.org/username", meta["name"])
