"""A project's workspace as Kubernetes objects: pure functions, no API calls.

:func:`render` turns a :class:`WorkspaceSpec` and the :class:`ClusterSettings` into the list
of objects (plain dicts, in apply order) that make the workspace exist; :func:`render_yaml`
prints them as one multi-document YAML stream for review (``spe workspace render``).

Per project, in namespace ``<prefix><project>``:

* the Namespace, labelled for Pod Security ``restricted`` (enforce, audit and warn);
* the controller's RoleBinding to its project ClusterRole: the controller's rights inside
  the namespace (it holds none outside project namespaces, see helm/spe/templates/rbac.yaml);
* a ResourceQuota (no LoadBalancer or NodePort Services) and a LimitRange from the profile;
* network policies: deny everything, then allow DNS, hub <-> users' servers, the ingress
  controller to the hub's proxy, and egress to the control plane and (hub only) the
  Kubernetes API; nothing else, no ``0.0.0.0/0``;
* the hub: ServiceAccount, a Role limited to what KubeSpawner does in this namespace, its
  configuration (ConfigMap for the static file, Secret for the traits and keys), a volume for
  its database, Deployment, Service and Ingress;
* the shared storage: the project folder (ReadWriteMany) and, per extract version, one
  extract volume written once by an extract Job (the only pod that sees the grant Secret)
  and mounted read-only by every member's server;
* the work-area key Secret: the project's key from spe's key store, which the operator's
  encrypting storage class reads (``${pvc.namespace}``) to encrypt every volume of the
  namespace — work areas, project folder, hub database, extract copy. Rendering refuses
  classes the operator has not declared encrypting (:func:`work_areas_encrypted`) unless
  the operator accepted plaintext work areas; the namespace's annotation
  :data:`ENCRYPTION_ANNOTATION` says which it is.

While the workspace is suspended (its hub scaled to zero), :func:`closed_page` adds what
answers at its address instead: a small Deployment running
:mod:`controllers.runtimes.closed` in the hub's image, which the hub's Service selects (it
selects by :data:`ADDRESS_LABEL`, which the hub's pods carry too), and redirects every
request to spe's page saying why; the next :func:`render` applied prunes it.

Every object carries ``app.kubernetes.io/managed-by: spe`` and ``spe.io/project: <id>``: the
apply layer prunes by these labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from kubernetes.utils.quantity import parse_quantity

from controllers.runtimes import closed
from controllers.runtimes.kubernetes.settings import ClusterSettings
from spe.errors import TerminalError
from workspaces import kubernetes as kube
from workspaces.hubconfig import HUB_CONFIG_ENV, HUB_CONFIG_FILE
from workspaces.spec import WorkspaceSpec

MANAGED_BY = {"app.kubernetes.io/managed-by": "spe"}
PROJECT_LABEL = kube.PROJECT_LABEL
COMPONENT_LABEL = "spe.io/component"
ADDRESS_LABEL = "spe.io/address"
"""On the pods that answer at the workspace's address: the hub's, or while it is scaled to
zero the closed page's. The hub's Service selects by it (the hub Deployment's own selector,
immutable, does not, so neither Deployment ever counts the other's pods)."""
HUB_NAME = kube.HUB_SERVICE
HUB_CONFIG_DIR = "/etc/jupyterhub"
HUB_SECRET_DIR = "/etc/jupyterhub-secret"  # noqa: S105  (a path)
"""Beside the configuration, not inside it: a mount point inside a read-only volume cannot
be created (the container would not start; the image smoke run found it)."""
HUB_DB_SIZE = "1Gi"
HUB_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"},
                 "limits": {"cpu": "1", "memory": "1Gi"}}
LIMIT_DEFAULTS = {"default": {"cpu": "500m", "memory": "512Mi"},
                  "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}
"""Resources of a container that declares none (the quota needs every container bounded)."""

WORK_AREA_KEY_SECRET = "work-area-key"  # noqa: S105  (a Secret's name)
"""The per-project Secret holding the work-area key; the storage class names it."""
ENCRYPTION_ANNOTATION = "spe.io/work-area-encryption"
ENCRYPTED = "project-key"
PLAINTEXT = "none: plaintext accepted by the operator"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class RenderError(TerminalError):
    """A spec that cannot become valid Kubernetes objects (retrying will not help)."""


def project_labels(spec: WorkspaceSpec) -> dict[str, str]:
    return {**spec.labels, **MANAGED_BY, PROJECT_LABEL: spec.project_id}


def prune_selector(project_id: str) -> dict[str, str]:
    """The labels that mark an object as this project's, applied by spe."""
    return {**MANAGED_BY, PROJECT_LABEL: project_id}


def render(spec: WorkspaceSpec, cluster: ClusterSettings) -> list[dict[str, Any]]:
    """Every object of the project's workspace, in an order safe to apply."""
    _check(spec, cluster)
    spec = with_cluster_images(spec, cluster)
    ns = cluster.namespace(spec.project_id)
    labels = project_labels(spec)
    traits = hub_traits_json(spec, cluster)
    encrypted = work_areas_encrypted(spec, cluster)
    objects = [
        namespace(spec, cluster, encrypted=encrypted),
        controller_binding(cluster),
        resource_quota(spec),
        limit_range(spec),
        *network_policies(spec, cluster),
        *hub_rbac(spec),
        hub_config_map(),
        hub_secret(spec, traits),
        *([extract_secret(spec)] if spec.extract else []),
        *([work_area_key_secret(spec)] if encrypted else []),
        hub_database_claim(cluster),
        project_claim(spec, cluster),
        *(extract_objects(spec, cluster) if spec.extract else []),
        hub_deployment(spec, traits),
        hub_service(spec),
        hub_ingress(spec, cluster),
    ]
    for obj in objects:
        meta = obj["metadata"]
        meta["labels"] = {**labels, **meta.get("labels", {})}
        if obj["kind"] != "Namespace":
            meta["namespace"] = ns
    return objects


def render_yaml(spec: WorkspaceSpec, cluster: ClusterSettings) -> str:
    """:func:`render` as a multi-document YAML stream (``kubectl diff -f -`` reads it)."""
    return yaml.safe_dump_all(render(spec, cluster), sort_keys=False)


def _check(spec: WorkspaceSpec, cluster: ClusterSettings) -> None:
    ns = cluster.namespace(spec.project_id)
    for what, value in (("project id", spec.project_id), ("namespace", ns)):
        if len(value) > 63 or not _DNS_LABEL.match(value):
            raise RenderError(f"{what} {value!r} is not a DNS-1123 label")
    if not spec.users:
        raise RenderError(f"project {spec.project_id}: no user may log in")


def work_areas_encrypted(spec: WorkspaceSpec, cluster: ClusterSettings) -> bool:
    """Whether the project's volumes are encrypted with its work-area key (``True``) or the
    operator accepted them in plaintext (``False``); :class:`RenderError` otherwise, saying
    what to change."""
    if cluster.encrypts_work_areas:
        if not spec.work_area_key:
            raise RenderError(f"project {spec.project_id}: its storage is encrypted with a "
                              "work-area key from spe's key store, and the spec holds none")
        return True
    if cluster.plaintext_work_areas:
        return False
    where = "; ".join(f"{what} on {f'storage class {name!r}' if name else 'the cluster default'}"
                      for what, name in cluster.volume_classes.items()
                      if not name or name not in cluster.encrypted_storage_classes)
    raise RenderError(
        f"project {spec.project_id}: {where}, not declared encrypted "
        "(SPE_KUBERNETES_ENCRYPTED_STORAGE_CLASSES): spe could not crypto-shred them when the "
        "permit ends. Use storage classes that encrypt each volume with the project's "
        f"{WORK_AREA_KEY_SECRET!r} Secret (docs/production.md), or accept plaintext work "
        "areas (SPE_KUBERNETES_PLAINTEXT_WORK_AREAS=true): then they are only deleted")


def with_cluster_images(spec: WorkspaceSpec, cluster: ClusterSettings) -> WorkspaceSpec:
    """``spec`` with the cluster's hub and workspace images, where the cluster names them."""
    images = {"hub_image": cluster.hub_image, "image": cluster.workspace_image}
    images = {field: image for field, image in images.items() if image}
    if not images:
        return spec
    return dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, **images))


def _object(api_version: str, kind: str, name: str, **body: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body}


def hub_selector(spec: WorkspaceSpec) -> dict[str, str]:
    return {PROJECT_LABEL: spec.project_id, COMPONENT_LABEL: "hub"}


def address_selector(project_id: str) -> dict[str, str]:
    return {PROJECT_LABEL: project_id, ADDRESS_LABEL: "hub"}


# --- namespace and its limits -------------------------------------------------------------

def namespace(spec: WorkspaceSpec, cluster: ClusterSettings, *,
              encrypted: bool) -> dict[str, Any]:
    pss = {}
    for mode in ("enforce", "audit", "warn"):
        pss[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        pss[f"pod-security.kubernetes.io/{mode}-version"] = cluster.pod_security_version
    obj = _object("v1", "Namespace", cluster.namespace(spec.project_id))
    obj["metadata"]["labels"] = pss
    obj["metadata"]["annotations"] = {ENCRYPTION_ANNOTATION: ENCRYPTED if encrypted
                                      else PLAINTEXT}
    return obj


def resource_quota(spec: WorkspaceSpec) -> dict[str, Any]:
    p = spec.profile
    hard = {
        "requests.cpu": p.quota_cpu, "limits.cpu": p.quota_cpu,
        "requests.memory": p.quota_memory, "limits.memory": p.quota_memory,
        "pods": str(p.quota_pods),
        "persistentvolumeclaims": str(p.quota_pvcs),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }
    if p.quota_gpus:
        hard[f"requests.{p.gpu_resource}"] = str(p.quota_gpus)
    return _object("v1", "ResourceQuota", "workspace", spec={"hard": hard})


def limit_range(spec: WorkspaceSpec) -> dict[str, Any]:
    p = spec.profile
    container = {"type": "Container",
                 "max": {"cpu": p.cpu_limit, "memory": p.memory_limit},
                 **LIMIT_DEFAULTS}
    largest = max((p.storage, p.project_storage, p.extract_storage), key=parse_quantity)
    claim = {"type": "PersistentVolumeClaim", "max": {"storage": largest}}
    return _object("v1", "LimitRange", "workspace", spec={"limits": [container, claim]})


# --- network --------------------------------------------------------------------------------

def _peer(namespace_name: str, pod_labels: dict[str, str]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace_name}},
            "podSelector": {"matchLabels": dict(pod_labels)}}


def _ports(*ports: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": port} for port in ports]


def _control_plane_rule(cluster: ClusterSettings) -> dict[str, Any]:
    if cluster.control_plane_cidr:
        peer: dict[str, Any] = {"ipBlock": {"cidr": cluster.control_plane_cidr}}
    else:
        peer = _peer(cluster.control_plane_namespace, cluster.control_plane_pod_labels)
    return {"to": [peer], "ports": _ports(cluster.control_plane_port)}


def network_policies(spec: WorkspaceSpec, cluster: ClusterSettings) -> list[dict[str, Any]]:
    api = "networking.k8s.io/v1"
    hub = {"podSelector": {"matchLabels": hub_selector(spec)}}
    servers = {"podSelector": {"matchLabels": {"component": kube.SERVER_COMPONENT}}}
    deny = _object(api, "NetworkPolicy", "default-deny",
                   spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    dns = _object(api, "NetworkPolicy", "allow-dns", spec={
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [_peer(cluster.dns_namespace, cluster.dns_pod_labels)],
                    "ports": _ports(53, protocol="UDP") + _ports(53)}],
    })
    hub_policy = _object(api, "NetworkPolicy", "hub", spec={
        "podSelector": hub["podSelector"],
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {"from": [_peer(cluster.ingress_namespace, cluster.ingress_pod_labels)],
             "ports": _ports(kube.PROXY_PORT)},
            {"from": [servers], "ports": _ports(kube.HUB_API_PORT)},
        ],
        "egress": [
            {"to": [servers], "ports": _ports(kube.NOTEBOOK_PORT)},
            _control_plane_rule(cluster),
            {"to": [{"ipBlock": {"cidr": cidr}} for cidr in cluster.api_server_cidrs],
             "ports": _ports(*cluster.api_server_ports)},
        ],
    })
    extract_policy = _object(api, "NetworkPolicy", "extract-job", spec={
        "podSelector": {"matchLabels": {COMPONENT_LABEL: "extract"}},
        "policyTypes": ["Ingress", "Egress"],
        "egress": [_control_plane_rule(cluster)],
    })
    server_policy = _object(api, "NetworkPolicy", "user-servers", spec={
        "podSelector": servers["podSelector"],
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [hub], "ports": _ports(kube.NOTEBOOK_PORT)}],
        "egress": [{"to": [hub], "ports": _ports(kube.HUB_API_PORT)},
                   _control_plane_rule(cluster)],
    })
    return [deny, dns, hub_policy, extract_policy, server_policy]


# --- the controller's rights in the namespace ---------------------------------------------

CONTROLLER_BINDING = "spe-controller"
"""Name of the controller's RoleBinding in each project namespace; the chart's cluster-wide
rules let the controller write RoleBindings of this name only (resourceNames)."""


def controller_binding(cluster: ClusterSettings) -> dict[str, Any]:
    """Binds the controller's ServiceAccount to its project ClusterRole in this namespace.

    Applied right after the Namespace: everything else in the namespace is written with the
    rights this binding grants (Kubernetes lets the controller create it because the chart
    grants ``bind`` on that one ClusterRole).
    """
    return _object("rbac.authorization.k8s.io/v1", "RoleBinding", CONTROLLER_BINDING,
                   roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": cluster.controller_project_role},
                   subjects=[{"kind": "ServiceAccount",
                              "name": cluster.controller_service_account,
                              "namespace": cluster.control_plane_namespace}])


# --- the hub's identity and rights ---------------------------------------------------------

HUB_RULES = [
    # KubeSpawner watches pods to follow servers, creates one per server start and deletes
    # it at stop; get reads one pod's state.
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["get", "list", "watch", "create", "delete"]},
    # storage_pvc_ensure: read a user's outputs claim, create it on first start, delete it
    # when the user is removed from the hub (the permit no longer names them).
    {"apiGroups": [""], "resources": ["persistentvolumeclaims"],
     "verbs": ["get", "create", "delete"]},
    # Spawn progress shown to the user comes from the pod's events (read only).
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
    # Nothing else: no Services (services_enabled is off), no Secrets (no internal SSL),
    # no access outside this namespace.
]


def hub_rbac(spec: WorkspaceSpec) -> list[dict[str, Any]]:
    account = _object("v1", "ServiceAccount", HUB_NAME, automountServiceAccountToken=False)
    role = _object("rbac.authorization.k8s.io/v1", "Role", HUB_NAME, rules=HUB_RULES)
    binding = _object("rbac.authorization.k8s.io/v1", "RoleBinding", HUB_NAME,
                      roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                               "name": HUB_NAME},
                      subjects=[{"kind": "ServiceAccount", "name": HUB_NAME}])
    return [account, role, binding]


# --- the hub's configuration and secrets ---------------------------------------------------

@cache
def _hub_config_file() -> str:
    return HUB_CONFIG_FILE.read_text(encoding="utf-8")


def hub_config_map() -> dict[str, Any]:
    """The static ``jupyterhub_config.py``: no secrets, so a ConfigMap."""
    return _object("v1", "ConfigMap", f"{HUB_NAME}-config",
                   data={HUB_CONFIG_FILE.name: _hub_config_file()})


def _derived_secret(spec: WorkspaceSpec, purpose: str) -> str:
    """A 256-bit hex secret derived from the hub's service token for ``purpose``.

    Derived, not random, so that rendering stays a pure function and re-applying does not
    rotate the hub's cookie or encryption keys; it rotates with the service token.
    """
    message = f"spe hub {purpose} {spec.project_id}".encode()
    return hmac.new(spec.hub_service_token.encode(), message, hashlib.sha256).hexdigest()


def hub_traits_json(spec: WorkspaceSpec, cluster: ClusterSettings) -> str:
    traits = kube.hub_traits(spec, namespace=cluster.namespace(spec.project_id),
                             storage_class=cluster.storage_class)
    return json.dumps(traits, sort_keys=True, indent=1)


def hub_secret(spec: WorkspaceSpec, traits_json: str) -> dict[str, Any]:
    """The hub's traits (they hold the OAuth client secret and service token) and keys."""
    return _object("v1", "Secret", HUB_NAME, type="Opaque", stringData={
        "hub.json": traits_json,
        "cookie-secret": _derived_secret(spec, "cookie-secret"),
        "crypt-key": _derived_secret(spec, "crypt-key"),
        "proxy-token": _derived_secret(spec, "proxy-token"),
    })


def extract_secret(spec: WorkspaceSpec) -> dict[str, Any]:
    assert spec.extract is not None
    return _object("v1", "Secret", kube.EXTRACT_SECRET, type="Opaque", stringData={
        kube.GRANT_URL_KEY: spec.extract.grant_url,
        kube.GRANT_TOKEN_KEY: spec.extract.grant_token,
    })


def work_area_key_secret(spec: WorkspaceSpec) -> dict[str, Any]:
    """The project's work-area key, under the names the usual encrypting CSI drivers read:
    Ceph-CSI's ``metadata`` KMS (``encryptionPassphrase``, the Secret in the tenant's
    namespace) and Longhorn's encrypted volumes (``CRYPTO_KEY_*``). No pod of the namespace
    may read Secrets: only the storage driver does."""
    key = spec.work_area_key
    return _object("v1", "Secret", WORK_AREA_KEY_SECRET, type="Opaque", stringData={
        "encryptionPassphrase": key,
        "CRYPTO_KEY_VALUE": key,
        "CRYPTO_KEY_PROVIDER": "secret",
    })


# --- the hub's workload --------------------------------------------------------------------

def hub_database_claim(cluster: ClusterSettings) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": HUB_DB_SIZE}}}
    if cluster.storage_class:
        spec["storageClassName"] = cluster.storage_class
    return _object("v1", "PersistentVolumeClaim", f"{HUB_NAME}-db", spec=spec)


def _claim(name: str, size: str, modes: list[str], storage_class: str | None,
           **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": modes, "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    obj = _object("v1", "PersistentVolumeClaim", name, spec=spec)
    if labels:
        obj["metadata"]["labels"] = labels
    return obj


def project_claim(spec: WorkspaceSpec, cluster: ClusterSettings) -> dict[str, Any]:
    """The project folder (``~/project``) every current member's server mounts."""
    return _claim(kube.PROJECT_CLAIM, spec.profile.project_storage, ["ReadWriteMany"],
                  cluster.shared_storage_class)


EXTRACT_TARGET = "/extract"
EXTRACT_JOB_DEADLINE = 6 * 3600


def extract_objects(spec: WorkspaceSpec, cluster: ClusterSettings) -> list[dict[str, Any]]:
    """One volume and one Job per extract version: the extract is decrypted once for all.

    When an amendment changes the data, the manifest changes and so do both names: the new
    version is written beside the old one, and the old objects, no longer rendered, are
    pruned. Servers wait for the volume's completion marker before they start.
    """
    assert spec.extract is not None
    name = kube.extract_claim(spec.extract.manifest_key)
    component = {COMPONENT_LABEL: "extract"}
    claim = _claim(name, spec.profile.extract_storage, ["ReadWriteMany"],
                   cluster.shared_storage_class, **component)
    pod = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": kube.restricted_pod_context(),
        "containers": [kube.fetch_extract_container(spec, EXTRACT_TARGET)],
        "volumes": [{"name": "extract", "persistentVolumeClaim": {"claimName": name}},
                    {"name": "tmp", "emptyDir": {}}],
    }
    job = _object("batch/v1", "Job", name, spec={
        "backoffLimit": 6,
        "activeDeadlineSeconds": EXTRACT_JOB_DEADLINE,
        "template": {"metadata": {"labels": {**project_labels(spec), **component}},
                     "spec": pod},
    })
    job["metadata"]["labels"] = component
    return [claim, job]


def _secret_env(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": HUB_NAME, "key": key}}}


def hub_deployment(spec: WorkspaceSpec, traits_json: str) -> dict[str, Any]:
    """The hub; its pod template carries a digest of its configuration, so a changed
    configuration restarts it."""
    selector = hub_selector(spec)
    config_digest = hashlib.sha256((traits_json + _hub_config_file()).encode()).hexdigest()
    health = {"httpGet": {"path": "/hub/health", "port": "hub-api"}}
    container = {
        "name": "hub",
        "image": spec.profile.hub_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["jupyterhub", "--config", f"{HUB_CONFIG_DIR}/{HUB_CONFIG_FILE.name}"],
        "workingDir": kube.HUB_STATE_DIR,
        "env": [
            {"name": HUB_CONFIG_ENV, "value": f"{HUB_SECRET_DIR}/hub.json"},
            _secret_env("JPY_COOKIE_SECRET", "cookie-secret"),
            _secret_env("JUPYTERHUB_CRYPT_KEY", "crypt-key"),
            _secret_env("CONFIGPROXY_AUTH_TOKEN", "proxy-token"),
        ],
        "ports": [{"name": "http", "containerPort": kube.PROXY_PORT},
                  {"name": "hub-api", "containerPort": kube.HUB_API_PORT}],
        "readinessProbe": {**health, "periodSeconds": 5},
        "livenessProbe": {**health, "initialDelaySeconds": 30, "periodSeconds": 10,
                          "failureThreshold": 6},
        "resources": HUB_RESOURCES,
        "securityContext": kube.restricted_container_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": HUB_CONFIG_DIR, "readOnly": True},
            {"name": "secret", "mountPath": HUB_SECRET_DIR, "readOnly": True},
            {"name": "state", "mountPath": kube.HUB_STATE_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  (an emptyDir)
        ],
    }
    pod_spec = {
        "serviceAccountName": HUB_NAME,
        "automountServiceAccountToken": True,  # KubeSpawner needs the API (see HUB_RULES)
        "enableServiceLinks": False,
        "securityContext": kube.restricted_pod_context(),
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": f"{HUB_NAME}-config"}},
            {"name": "secret", "secret": {"secretName": HUB_NAME,
                                          "items": [{"key": "hub.json", "path": "hub.json"}]}},
            {"name": "state", "persistentVolumeClaim": {"claimName": f"{HUB_NAME}-db"}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return _object("apps/v1", "Deployment", HUB_NAME, spec={
        "replicas": 1,
        "strategy": {"type": "Recreate"},  # one hub per database volume, never two
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": {**project_labels(spec), **selector,
                                    **address_selector(spec.project_id)},
                         "annotations": {"spe.io/config-sha256": config_digest}},
            "spec": pod_spec,
        },
    })


def hub_service(spec: WorkspaceSpec) -> dict[str, Any]:
    return _object("v1", "Service", HUB_NAME, spec={
        "type": "ClusterIP",
        "selector": address_selector(spec.project_id),  # the hub, or the closed page
        "ports": [{"name": "http", "port": kube.PROXY_PORT, "targetPort": "http"},
                  {"name": "hub-api", "port": kube.HUB_API_PORT, "targetPort": "hub-api"}],
    })


def hub_ingress(spec: WorkspaceSpec, cluster: ClusterSettings) -> dict[str, Any]:
    host = cluster.host(spec.project_id)
    backend = {"service": {"name": HUB_NAME, "port": {"name": "http"}}}
    body: dict[str, Any] = {
        "ingressClassName": cluster.ingress_class,
        "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": backend}]}}],
    }
    if cluster.tls_secret:
        body["tls"] = [{"hosts": [host], "secretName": cluster.tls_secret}]
    return _object("networking.k8s.io/v1", "Ingress", HUB_NAME, spec=body)


# --- while suspended: the closed page ------------------------------------------------------

CLOSED_NAME = "closed"
CLOSED_SCRIPT = Path(closed.__file__)
CLOSED_DIR = "/etc/spe-closed"
CLOSED_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"},
                    "limits": {"cpu": "100m", "memory": "64Mi"}}


def closed_selector(project_id: str) -> dict[str, str]:
    return {PROJECT_LABEL: project_id, COMPONENT_LABEL: CLOSED_NAME}


@cache
def _closed_script() -> str:
    return CLOSED_SCRIPT.read_text(encoding="utf-8")


def closed_page(project_id: str, cluster: ClusterSettings, image: str,
                target: str) -> list[dict[str, Any]]:
    """What answers at a suspended workspace's address: every request redirected to
    ``target`` (spe's ``/workspaces/<project>/closed``), by the standard-library script
    :mod:`controllers.runtimes.closed` run in ``image`` (the hub's: it has Python, not spe).
    The pod holds no token, mounts nothing but the script, may only be reached by the
    ingress controller and reach nothing."""
    selector = closed_selector(project_id)
    script = CLOSED_SCRIPT.name
    config = _object("v1", "ConfigMap", f"{CLOSED_NAME}-page", data={script: _closed_script()})
    policy = _object("networking.k8s.io/v1", "NetworkPolicy", CLOSED_NAME, spec={
        "podSelector": {"matchLabels": selector},
        "policyTypes": ["Ingress", "Egress"],  # no egress rule: it reaches nothing
        "ingress": [{"from": [_peer(cluster.ingress_namespace, cluster.ingress_pod_labels)],
                     "ports": _ports(kube.PROXY_PORT)}],
    })
    container = {
        "name": CLOSED_NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["python3", f"{CLOSED_DIR}/{script}", "--port", str(kube.PROXY_PORT),
                    "--target", target],
        "ports": [{"name": "http", "containerPort": kube.PROXY_PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
        "resources": CLOSED_RESOURCES,
        "securityContext": kube.restricted_container_context(),
        "volumeMounts": [{"name": "script", "mountPath": CLOSED_DIR, "readOnly": True}],
    }
    labels = {**MANAGED_BY, **selector}
    deployment = _object("apps/v1", "Deployment", CLOSED_NAME, spec={
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": {**labels, **address_selector(project_id)}},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": kube.restricted_pod_context(),
                "containers": [container],
                "volumes": [{"name": "script",
                             "configMap": {"name": f"{CLOSED_NAME}-page"}}],
            },
        },
    })
    objects = [config, policy, deployment]
    for obj in objects:
        obj["metadata"]["labels"] = labels
        obj["metadata"]["namespace"] = cluster.namespace(project_id)
    return objects
