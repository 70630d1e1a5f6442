"""The ``kubernetes`` runtime: one namespace per project, rendered as data, applied by SSA.

Public surface:

* :class:`KubernetesRuntime` (the :class:`~controllers.runtimes.base.Runtime`) and the
  :class:`ClusterSettings` it renders for (:func:`from_settings`: ``SPE_KUBERNETES_*``);
* :func:`render` / :func:`render_yaml`: a :class:`WorkspaceSpec` as Kubernetes objects
  (pure; ``spe workspace render PROJECT --runtime kubernetes`` prints the YAML);
* :func:`apply` (server-side apply and prune by label), :func:`diff` (desired vs observed),
  :class:`KubeClient` (the one HTTP door to the API server);
* :class:`LeaseLock`: leader election for the controller's replicas;
* :func:`load_profile`: ``policies/workspace-profiles/<name>.yaml`` as a profile.
"""

from controllers.profiles import ProfileError, load_profile, profile_from_dict
from controllers.runtimes.kubernetes.apply import Change, Outcome, apply, prune
from controllers.runtimes.kubernetes.client import (
    KubeClient,
    KubeRetryableError,
    KubeTerminalError,
)
from controllers.runtimes.kubernetes.diff import Difference, DiffKind, diff
from controllers.runtimes.kubernetes.lease import LeaseLock
from controllers.runtimes.kubernetes.render import RenderError, render, render_yaml
from controllers.runtimes.kubernetes.runtime import KubernetesRuntime
from controllers.runtimes.kubernetes.settings import (
    ClusterSettings,
    SettingsError,
    from_settings,
)

__all__ = [
    "Change",
    "ClusterSettings",
    "DiffKind",
    "Difference",
    "KubeClient",
    "KubeRetryableError",
    "KubeTerminalError",
    "KubernetesRuntime",
    "LeaseLock",
    "Outcome",
    "ProfileError",
    "RenderError",
    "SettingsError",
    "apply",
    "diff",
    "from_settings",
    "load_profile",
    "profile_from_dict",
    "prune",
    "render",
    "render_yaml",
]
