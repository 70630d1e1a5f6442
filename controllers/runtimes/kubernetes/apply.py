"""Make the cluster hold exactly a set of objects: server-side apply, then prune by label.

Generic: it knows kinds and paths, nothing of JupyterHub or projects. Each object is applied
with ``PATCH`` (``application/apply-patch+yaml``, ``fieldManager``, ``force=true``), so
re-applying the same objects changes nothing and fields other managers own are left alone.
With a ``prune_selector``, objects of the kinds in :data:`RESOURCES` that carry those labels
but are not desired any more are deleted. Namespaced kinds are searched only inside the
namespaces that carry the same labels: the controller holds no rights anywhere else (the
chart's RBAC and admission policy), and spe writes nothing elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controllers.runtimes.kubernetes.client import KubeClient, KubeTerminalError, Resource

RESOURCES: dict[tuple[str, str], Resource] = {
    (r.api_version, r.kind): r
    for r in (
        Resource("v1", "Namespace", "namespaces", namespaced=False),
        Resource("v1", "ResourceQuota", "resourcequotas"),
        Resource("v1", "LimitRange", "limitranges"),
        Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        Resource("v1", "ServiceAccount", "serviceaccounts"),
        Resource("rbac.authorization.k8s.io/v1", "Role", "roles"),
        Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        Resource("v1", "ConfigMap", "configmaps"),
        Resource("v1", "Secret", "secrets"),
        Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Resource("batch/v1", "Job", "jobs"),
        Resource("apps/v1", "Deployment", "deployments"),
        Resource("v1", "Service", "services"),
        Resource("networking.k8s.io/v1", "Ingress", "ingresses"),
    )
}
"""The kinds spe applies (and may prune), in the order they are safe to create."""


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    outcome: Outcome
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name} {self.outcome}"


def resource_of(obj: dict[str, Any]) -> Resource:
    try:
        return RESOURCES[(obj["apiVersion"], obj["kind"])]
    except KeyError:
        raise KubeTerminalError(f"spe does not apply {obj.get('apiVersion')}/"
                                f"{obj.get('kind')} objects", 422) from None


def key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """Identity of an object: apiVersion, kind, namespace ('' if cluster-scoped), name."""
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"]


def apply(client: KubeClient, objects: Iterable[dict[str, Any]], field_manager: str = "spe",
          prune_selector: dict[str, str] | None = None) -> list[Change]:
    """Apply ``objects`` in order, then prune; one :class:`Change` per object touched."""
    objects = list(objects)
    for obj in objects:  # refuse unknown kinds before writing anything
        resource_of(obj)
    changes = [_apply_one(client, obj, field_manager) for obj in objects]
    if prune_selector is not None:
        changes += prune(client, objects, prune_selector)
    return changes


def _apply_one(client: KubeClient, obj: dict[str, Any], field_manager: str) -> Change:
    path = resource_of(obj).object_path(obj)
    before = client.get(path)
    _, after = client.apply(path, obj, field_manager)
    if before is None:
        outcome = Outcome.CREATED
    elif _version(before) == _version(after):
        outcome = Outcome.UNCHANGED
    else:
        outcome = Outcome.UPDATED
    meta = obj["metadata"]
    return Change(outcome, obj["kind"], meta["name"], meta.get("namespace"))


def _version(obj: dict[str, Any]) -> str | None:
    return obj.get("metadata", {}).get("resourceVersion")


def prune(client: KubeClient, desired: Iterable[dict[str, Any]],
          selector: dict[str, str]) -> list[Change]:
    """Delete objects labelled ``selector`` that are not in ``desired``.

    Unwanted namespaces go first, and with them everything inside (not deleted one by one);
    then the other kinds, last applied first.
    """
    if not selector:
        raise KubeTerminalError("refusing to prune with an empty label selector", 422)
    wanted = {key(obj) for obj in desired}
    gone: set[str] = set()
    labelled: list[str] = []  # namespaces carrying the selector, where the others are sought
    changes = []
    order = sorted(reversed(RESOURCES.values()), key=lambda r: r.namespaced)
    for resource in order:
        if resource.namespaced:
            found_all = [o for ns in labelled if ns not in gone
                         for o in client.list(resource.path(ns), selector)]
        else:
            found_all = client.list(resource.path(), selector)
            labelled += [o["metadata"]["name"] for o in found_all]
        for found in found_all:
            found.setdefault("apiVersion", resource.api_version)
            found.setdefault("kind", resource.kind)
            meta = found["metadata"]
            if key(found) in wanted or meta.get("namespace") in gone:
                continue
            if not resource.namespaced:
                gone.add(meta["name"])
            if client.delete(resource.object_path(found)):
                changes.append(Change(Outcome.DELETED, resource.kind, meta["name"],
                                      meta.get("namespace")))
    return changes
