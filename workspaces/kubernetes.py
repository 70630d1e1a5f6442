"""KubeSpawner configuration of a project hub on Kubernetes, as plain data.

:func:`kubespawner_traits` is a pure function of the :class:`WorkspaceSpec`; :func:`hub_traits`
merges it over :func:`workspaces.hubconfig.common_traits` into the JSON the hub loads (through
``workspaces/jupyterhub_config.py``). The Kubernetes runtime puts that JSON in a Secret.

Every user's server pod:

* meets Pod Security ``restricted``: non-root uid 1000, every capability dropped, no privilege
  escalation, ``RuntimeDefault`` seccomp, and a read-only root filesystem (``/tmp`` is an
  emptyDir);
* gets no service account token (the API server is no business of a researcher);
* keeps the user's work area — her home, ``~/outputs`` included — on her own
  PersistentVolumeClaim (``work-<user>``), so notebooks and scripts survive server stops,
  culling and control-plane restarts; it goes with the project's namespace when the permit ends;
* mounts the project folder (``~/project``), one ReadWriteMany claim shared by the project's
  current members (a member amended away can no longer start a server, and the runtime
  deletes her running one, so she loses it at once);
* mounts the extract read-only at ``~/data`` from the project's extract volume, written once
  per extract version by the project's extract Job (see the Kubernetes runtime's rendering),
  and waits in a small init container until that copy is complete: a server's start does not
  copy anything, whatever the extract's size;
* requests the profile's GPUs, on the nodes its selector and tolerations allow.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from workspaces.hubconfig import common_traits
from workspaces.spec import WorkspaceSpec

PROJECT_LABEL = "spe.io/project"
SERVER_COMPONENT = "singleuser-server"
"""KubeSpawner's ``component`` label on users' server pods (network policies select it)."""

NOTEBOOK_UID = 1000
NOTEBOOK_GID = 100
HOME = "/home/jovyan"
DATA_DIR = f"{HOME}/data"
OUTPUTS_DIR = f"{HOME}/outputs"
PROJECT_DIR = f"{HOME}/project"
PROJECT_CLAIM = "project"
EXTRACT_COMPLETE = ".spe-complete"
"""Written by ``fetch_extract.py`` when the whole extract is in the volume."""
NOTEBOOK_PORT = 8888

PROXY_PORT = 8000
HUB_API_PORT = 8081
HUB_SERVICE = "hub"
HUB_STATE_DIR = "/srv/jupyterhub"

EXTRACT_SECRET = "extract-grant"  # noqa: S105  (a Secret's name)
GRANT_URL_KEY = "url"
GRANT_TOKEN_KEY = "token"  # noqa: S105  (a key name)
FETCH_SCRIPT = "/usr/local/lib/spe/fetch_extract.py"
"""Installed in the workspace image by ``workspaces/image/Dockerfile``."""

SMALL_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"},
                   "limits": {"cpu": "500m", "memory": "512Mi"}}
SERVER_START_TIMEOUT = 900
"""Seconds a server may take to start: image pull and waiting for a first extract included."""


def extract_claim(manifest_key: str) -> str:
    """The extract volume of one extract version (a new version gets a new volume)."""
    return f"extract-{hashlib.sha256(manifest_key.encode()).hexdigest()[:12]}"


def restricted_container_context(*, read_only_root: bool = True) -> dict[str, Any]:
    """A container security context that meets Pod Security ``restricted``."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NOTEBOOK_UID,
        "runAsGroup": NOTEBOOK_GID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": NOTEBOOK_UID,
        "runAsGroup": NOTEBOOK_GID,
        "fsGroup": NOTEBOOK_GID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def hub_connect_url(namespace: str) -> str:
    """Where users' servers reach the hub API: the hub Service in the project namespace."""
    return f"http://{HUB_SERVICE}.{namespace}.svc:{HUB_API_PORT}"


def kubespawner_traits(spec: WorkspaceSpec, *, namespace: str,
                       storage_class: str | None = None) -> dict[str, Any]:
    """The ``JupyterHub`` and ``KubeSpawner`` sections that run servers in ``namespace``."""
    profile = spec.profile
    project = {PROJECT_LABEL: spec.project_id}
    volumes: list[dict[str, Any]] = [
        {"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "project", "persistentVolumeClaim": {"claimName": PROJECT_CLAIM}},
    ]
    mounts = [
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  (an emptyDir, not the node's /tmp)
        {"name": "project", "mountPath": PROJECT_DIR},
    ]
    if spec.extract:
        claim = extract_claim(spec.extract.manifest_key)
        volumes.append({"name": "extract", "persistentVolumeClaim": {"claimName": claim,
                                                                     "readOnly": True}})
        mounts.append({"name": "extract", "mountPath": DATA_DIR, "readOnly": True})
    spawner: dict[str, Any] = {
        "namespace": namespace,
        "image": profile.image,
        "image_pull_policy": "IfNotPresent",
        "cmd": ["jupyterhub-singleuser"],
        "port": NOTEBOOK_PORT,
        "uid": NOTEBOOK_UID,
        "gid": NOTEBOOK_GID,
        "fs_gid": NOTEBOOK_GID,
        "privileged": False,
        "allow_privilege_escalation": False,
        "container_security_context": restricted_container_context(),
        "pod_security_context": restricted_pod_context(),
        "automount_service_account_token": False,
        "services_enabled": False,
        "cpu_guarantee": float(parse_quantity(profile.cpu_request)),
        "cpu_limit": float(parse_quantity(profile.cpu_limit)),
        "mem_guarantee": int(parse_quantity(profile.memory_request)),
        "mem_limit": int(parse_quantity(profile.memory_limit)),
        "storage_pvc_ensure": True,
        "pvc_name_template": "work-{user_server}",
        "storage_capacity": profile.storage,
        "storage_access_modes": ["ReadWriteOnce"],
        "storage_extra_labels": project,
        "extra_labels": project,
        "volumes": volumes,
        "volume_mounts": mounts,
        "init_containers": [_wait_for_extract(spec)] if spec.extract else [],
        "working_dir": HOME,
        "notebook_dir": HOME,
        "start_timeout": SERVER_START_TIMEOUT,
    }
    if storage_class:
        spawner["storage_class"] = storage_class
    if profile.gpus:
        gpus = {profile.gpu_resource: str(profile.gpus)}
        spawner["extra_resource_limits"] = gpus
        spawner["extra_resource_guarantees"] = gpus
    if profile.node_selector:
        spawner["node_selector"] = dict(profile.node_selector)
    if profile.tolerations:
        spawner["tolerations"] = [{"key": key, "operator": op, **({"effect": e} if e else {})}
                                  for key, op, e in profile.tolerations]
    return {
        "JupyterHub": {
            "spawner_class": "kubespawner.KubeSpawner",
            "bind_url": f"http://:{PROXY_PORT}",
            "hub_bind_url": f"http://:{HUB_API_PORT}",
            "hub_connect_url": hub_connect_url(namespace),
            "db_url": f"sqlite:///{HUB_STATE_DIR}/jupyterhub.sqlite",
            "cleanup_servers": False,  # a hub restart must not stop researchers' servers
            "active_server_limit": profile.max_servers,
        },
        "KubeSpawner": spawner,
    }


def hub_traits(spec: WorkspaceSpec, *, namespace: str,
               storage_class: str | None = None) -> dict[str, Any]:
    """Everything the hub loads: :func:`common_traits` with the KubeSpawner traits over it."""
    return _merge(common_traits(spec),
                  kubespawner_traits(spec, namespace=namespace, storage_class=storage_class))


def fetch_extract_container(spec: WorkspaceSpec, target: str) -> dict[str, Any]:
    """The container of the project's extract Job: the only one that sees the grant."""
    def from_secret(name: str, key: str) -> dict[str, Any]:
        return {"name": name,
                "valueFrom": {"secretKeyRef": {"name": EXTRACT_SECRET, "key": key}}}

    return {
        "name": "fetch-extract",
        "image": spec.profile.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", FETCH_SCRIPT, target],
        "env": [from_secret("SPE_GRANT_URL", GRANT_URL_KEY),
                from_secret("SPE_GRANT_TOKEN", GRANT_TOKEN_KEY)],
        "securityContext": restricted_container_context(),
        "resources": SMALL_RESOURCES,
        "volumeMounts": [{"name": "extract", "mountPath": target},
                         {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }


def _wait_for_extract(spec: WorkspaceSpec) -> dict[str, Any]:
    """Hold the server until the extract Job has written the whole extract (no copy here)."""
    marker = f"{DATA_DIR}/{EXTRACT_COMPLETE}"
    return {
        "name": "wait-for-extract",
        "image": spec.profile.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", f"until [ -f {marker} ]; do sleep 2; done"],
        "securityContext": restricted_container_context(),
        "resources": SMALL_RESOURCES,
        "volumeMounts": [{"name": "extract", "mountPath": DATA_DIR, "readOnly": True}],
    }


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into ``base`` recursively (dicts merge, everything else replaces)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
