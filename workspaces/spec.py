"""What a workspace is, as data: the specification a runtime makes real.

The reconciler (:mod:`controllers.reconciler`) builds a :class:`WorkspaceSpec` from a
project's permit; the hub configuration (:mod:`workspaces.hubconfig`) and the Kubernetes
objects (:mod:`workspaces.kubernetes`) are rendered from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WorkspaceProfile:
    """Resources and image of a workspace, from ``policies/workspace-profiles/<name>.yaml``."""

    name: str
    image: str
    hub_image: str
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "1Gi"
    memory_limit: str = "4Gi"
    storage: str = "10Gi"
    max_servers: int = 10
    idle_timeout_seconds: int = 3600
    quota_cpu: str = "8"
    quota_memory: str = "32Gi"
    quota_pods: int = 20
    quota_pvcs: int = 20
    project_storage: str = "10Gi"
    """The project folder every current member shares (``~/project``)."""
    extract_storage: str = "20Gi"
    """The volume that holds one decrypted copy of the extract for all members."""
    gpus: int = 0
    """GPUs per server (``gpu_resource``); 0: none."""
    gpu_resource: str = "nvidia.com/gpu"
    """The extended resource the cluster's device plugin offers: whole GPUs, a MIG slice
    (``nvidia.com/mig-1g.10gb``) or a time-sliced share, as the cluster is set up."""
    quota_gpus: int = 0
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[str, str, str], ...] = ()
    """``(key, operator, effect)`` of the taints GPU nodes carry (``Exists`` operator)."""


@dataclass(frozen=True)
class HubOAuthClient:
    """How a project hub logs users in through the control plane (an OAuth2/OIDC client)."""

    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    userdata_url: str
    callback_url: str = ""
    scopes: tuple[str, ...] = ("openid", "profile")


@dataclass(frozen=True)
class ExtractRef:
    """Where the project's extract is and how a workspace may fetch it.

    ``grant_url`` is a control-plane endpoint that, presented with ``grant_token`` (short-lived,
    project-scoped), returns the decrypted extract files; the workspace never holds storage
    credentials, the key-encryption key or the pseudonymisation secret.
    """

    manifest_key: str
    grant_url: str
    grant_token: str


@dataclass(frozen=True)
class WorkspaceSpec:
    """Everything a runtime needs to provision one project's workspace."""

    project_id: str  # DNS-1123 label, e.g. "p-7f3a9c12"
    permit_reference: str
    users: tuple[str, ...]  # hub usernames allowed in (the permit's named researchers)
    profile: WorkspaceProfile
    oauth: HubOAuthClient
    control_plane_url: str
    hub_service_token: str  # lets the hub send audit events and ask for egress tokens
    extract: ExtractRef | None = None
    labels: dict[str, str] = field(default_factory=dict)
    spawn_refusal: str = ""
    """Why the hub refuses to start new servers ("": it does not), e.g. a spent budget."""
    notice: str = ""
    """A line the hub's pages show every user ("": none), e.g. a budget nearly spent."""
    work_area_key: str = field(default="", repr=False)
    """The project's work-area key (from spe's key store) for a runtime that encrypts work
    areas and the project folder with it ("": none asked for); a secret, never shown."""
