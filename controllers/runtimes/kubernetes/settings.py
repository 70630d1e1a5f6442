"""What the Kubernetes runtime must know about the cluster it renders for.

These describe the operator's cluster, not a project: where the control plane runs (so a
workspace may reach it and nothing else), where the Kubernetes API is (the hub's KubeSpawner
talks to it), where the ingress controller is, and which host each project's hub gets.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spe.settings import Settings

MIN_PREFIX = {4: 16, 6: 48}
"""The widest ipBlock a workspace network policy may name (per IP version)."""


class SettingsError(ValueError):
    """Cluster settings the runtime refuses to render with."""


@dataclass(frozen=True)
class ClusterSettings:
    api_server_cidrs: tuple[str, ...]
    """Addresses of the Kubernetes API server endpoints (``kubectl get endpoints kubernetes``),
    as narrow CIDRs: network policies see the endpoint address, not the Service's."""
    ingress_domain: str
    """Each project's hub is served at ``https://<project>.<ingress_domain>/``."""
    namespace_prefix: str = "spe-"
    control_plane_namespace: str = "spe"
    control_plane_pod_labels: dict[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/name": "spe",
                                 "app.kubernetes.io/component": "api"})
    control_plane_port: int = 8000
    control_plane_cidr: str | None = None
    """Set when the control plane runs outside the cluster: then an ipBlock replaces the
    namespace and pod selectors."""
    api_server_ports: tuple[int, ...] = (443, 6443)
    ingress_namespace: str = "ingress-nginx"
    ingress_pod_labels: dict[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/name": "ingress-nginx"})
    ingress_class: str = "nginx"
    tls_secret: str | None = None
    """TLS Secret for the hub hosts (e.g. a wildcard certificate); ``None`` leaves TLS to the
    ingress controller's default certificate."""
    storage_class: str | None = None
    shared_storage_class: str | None = None
    """Storage class of the ReadWriteMany volumes (the project folder, the extract volume):
    one that can be mounted by pods on several nodes (NFS, CephFS, a cloud file share)."""
    encrypted_storage_classes: tuple[str, ...] = ()
    """The classes the operator declares encrypt each volume with the key in the project
    namespace's work-area key Secret (its CSI driver reads it through
    ``${pvc.namespace}``): destroying that key in spe's key store, with the Secret, shreds
    the project's volumes. Work areas and project folders are rendered only on these."""
    plaintext_work_areas: bool = False
    """The operator accepts work areas and project folders on classes not declared
    encrypted: no key is made for them, and they are deleted, not crypto-shredded."""
    dns_namespace: str = "kube-system"
    dns_pod_labels: dict[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    pod_security_version: str = "v1.33"
    hub_image: str | None = None
    """Replaces every profile's ``hub_image`` (the Helm chart's image references)."""
    workspace_image: str | None = None
    """Replaces every profile's ``image`` (researchers' servers and the extract init step)."""
    controller_service_account: str = "spe-controller"
    """The controller's ServiceAccount, in ``control_plane_namespace``."""
    controller_project_role: str = "spe-controller-project"
    """The ClusterRole of the controller's rights inside a project namespace: each project
    namespace gets a RoleBinding to it, so the controller holds them there and nowhere else."""

    def __post_init__(self) -> None:
        if not self.api_server_cidrs:
            raise SettingsError("api_server_cidrs is empty: the hub could not reach the API")
        for cidr in (*self.api_server_cidrs, *filter(None, [self.control_plane_cidr])):
            narrow_cidr(cidr)
        if not self.ingress_domain or self.ingress_domain.startswith("."):
            raise SettingsError(f"invalid ingress_domain {self.ingress_domain!r}")

    @property
    def volume_classes(self) -> dict[str, str | None]:
        """Which storage class holds what: work areas and the hub's database on
        ``storage_class``, the project folder and the extract copy on the shared one."""
        return {"work areas": self.storage_class,
                "the project folder": self.shared_storage_class}

    @property
    def encrypts_work_areas(self) -> bool:
        """Whether every class of :attr:`volume_classes` is declared encrypting (the cluster
        default never is: it may change behind spe's back)."""
        return all(name and name in self.encrypted_storage_classes
                   for name in self.volume_classes.values())

    def namespace(self, project_id: str) -> str:
        return f"{self.namespace_prefix}{project_id}"

    def host(self, project_id: str) -> str:
        return f"{project_id}.{self.ingress_domain}"


CLUSTER_FIELDS = {field.name for field in dataclasses.fields(ClusterSettings)}


def from_settings(settings: Settings) -> ClusterSettings:
    """The cluster described by the settings' Kubernetes section (``SPE_KUBERNETES_*``, the
    one path: the Helm chart sets exactly those variables). Workspaces reach the control
    plane on ``SPE_PORT``."""
    section = settings.kubernetes
    if not section.ingress_domain:
        raise SettingsError("the kubernetes runtime needs SPE_KUBERNETES_INGRESS_DOMAIN")
    if not section.api_server_cidrs:
        raise SettingsError("the kubernetes runtime needs SPE_KUBERNETES_API_SERVER_CIDRS "
                            "(a JSON list): the hubs could not reach the Kubernetes API")
    cluster = {name: value for name, value in section if name in CLUSTER_FIELDS}
    return ClusterSettings(**cluster, control_plane_port=settings.api.port)


def narrow_cidr(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``cidr`` parsed, refused if malformed or wider than :data:`MIN_PREFIX` allows."""
    try:
        network = ipaddress.ip_network(cidr)
    except ValueError as exc:
        raise SettingsError(f"invalid CIDR {cidr!r}: {exc}") from exc
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise SettingsError(f"CIDR {cidr} is wider than /{MIN_PREFIX[network.version]}:"
                            " a workspace may only reach named endpoints")
    return network
