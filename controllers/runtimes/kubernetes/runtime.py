"""The ``kubernetes`` runtime: render, apply and prune, observe.

Rendering is :mod:`.render` (pure), writing is :mod:`.apply` (generic), and this class only
strings them together per project and reads the hub's state back.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
from controllers.runtimes.kubernetes.settings import ClusterSettings
from workspaces.kubernetes import SERVER_COMPONENT
from workspaces.spec import WorkspaceSpec

NAMESPACES = RESOURCES[("v1", "Namespace")]
DEPLOYMENTS = RESOURCES[("apps/v1", "Deployment")]
PODS = Resource("v1", "Pod", "pods")
SERVER_PODS = {"component": SERVER_COMPONENT}
USERNAME_ANNOTATION = "hub.jupyter.org/username"


class KubernetesRuntime(Runtime):
    """One namespace per project; see :mod:`controllers.runtimes.kubernetes.render`."""

    name: ClassVar[str] = "kubernetes"

    def __init__(self, cluster: ClusterSettings, client: KubeClient | None = None,
                 field_manager: str = "spe"):
        self.cluster = cluster
        self.client = client or KubeClient()
        self.field_manager = field_manager
        self._desired: dict[str, list[dict[str, Any]]] = {}  # last applied, for drift
        self._closed: dict[str, str] = {}  # suspended projects' closed page targets

    def ensure(self, spec: WorkspaceSpec) -> ObservedWorkspace:
        objects = render(spec, self.cluster)
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
        self._closed.pop(spec.project_id, None)
        self._desired[spec.project_id] = objects
        return self.observe(spec.project_id)

    def suspend(self, project_id: str) -> ObservedWorkspace:
        """Scale the hub to zero (no logins) and stop every server; volumes stay."""
        ns = self.cluster.namespace(project_id)
        if self.client.get(NAMESPACES.path(name=ns)) is None:
            return ObservedWorkspace(project_id, WorkspacePhase.ABSENT)
        if self.client.get(DEPLOYMENTS.path(ns, HUB_NAME)) is not None:
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
        return tuple(sorted(
            p["metadata"].get("annotations", {}).get(USERNAME_ANNOTATION)
            or p["metadata"]["labels"].get("hub.jupyter.org/username", p["metadata"]["name"])
            for p in pods if p.get("status", {}).get("phase") == "Running"))

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
