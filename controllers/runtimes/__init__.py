"""Runtimes: where workspaces run, chosen by a short name (setting ``SPE_RUNTIME``)."""

from __future__ import annotations

from controllers.runtimes.base import Runtime
from spe.settings import Settings


def make_runtime(settings: Settings) -> Runtime:
    """The runtime the settings name: ``local`` under ``<data_dir>/workspaces`` (or
    ``SPE_LOCAL_RUNTIME_ROOT``), or ``kubernetes`` for the cluster described by the
    ``SPE_KUBERNETES_*`` settings, reached in-cluster or through the kubeconfig."""
    if settings.controller.runtime == "kubernetes":
        return _kubernetes(settings)
    from controllers.runtimes.local import LocalRuntime

    return LocalRuntime(settings.controller.local_runtime_root)


def _kubernetes(settings: Settings) -> Runtime:
    from kubernetes import config

    from controllers.runtimes.kubernetes import KubernetesRuntime, from_settings

    cluster = from_settings(settings)
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return KubernetesRuntime(cluster)
