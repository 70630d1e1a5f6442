"""The project hub's configuration, shared by every runtime.

:func:`common_traits` turns a :class:`WorkspaceSpec` into plain, JSON-serialisable traitlets
configuration. A runtime writes it to a file, points the hub's environment variable
``SPE_HUB_CONFIG`` at it, and starts ``jupyterhub -f`` with the static
``workspaces/jupyterhub_config.py`` (:data:`HUB_CONFIG_FILE`), which loads the file into ``c``
and adds what JSON cannot express: the audit hooks and the idle-culler service.

The JSON holds the OAuth client secret and the hub's service token: store it like a secret
(file mode 0600, a Kubernetes Secret), never in a ConfigMap. The hub also needs
``JUPYTERHUB_CRYPT_KEY`` in its environment because auth state is on (see below).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from workspaces.spec import WorkspaceSpec

HUB_CONFIG_FILE = Path(__file__).with_name("jupyterhub_config.py")
"""The static hub configuration file that loads the JSON traits (package data)."""

LAB_EXTENSIONS = Path(__file__).with_name("jupyter")
"""A Jupyter data directory (``JUPYTER_PATH``) holding spe's lab extension: a lab whose
server is gone reloads, so that spe's page says why, instead of JupyterHub's "Server
unavailable... restart it?" dialog. The local runtime points its servers at it; the
workspace image installs it under its prefix."""

HUB_CONFIG_ENV = "SPE_HUB_CONFIG"
"""Environment variable naming the JSON traits file the hub loads."""

SPE_SECTION = "SpeHub"
"""Section of the JSON read by ``jupyterhub_config.py`` itself, not handed to traitlets."""

WORKSPACE_MARKER_ENV = "SPE_WORKSPACE"
"""Set by the local runtime to the project directory in the environment of every process of a
workspace (hub, proxy, services, servers, kernels), so it can find and stop them all."""

AUDIT_INGEST_PATH = "/api/v1/audit/ingest"

USERNAME_CLAIM = "preferred_username"
"""Claim of the control plane's userinfo response that names the hub user."""

AUTH_REFRESH_SECONDS = 60
"""How old a user's auth info may get before the hub asks the control plane again.

With auth state on, :meth:`OAuthenticator.refresh_user` re-reads the userinfo endpoint with
the stored access token; once the control plane refuses it (permit revoked or expired), the
next browser request to the hub requires a new login, which the control plane refuses.
"""

COOKIE_MAX_AGE_DAYS = 0.5
"""Hub login cookies (and the tokens of users' servers) last at most half a day."""

IMPLICIT_SPAWN_SECONDS = 1.0
"""How long JupyterHub's "server not running" page waits before starting the server itself."""

MAX_ACTIVITY_INTERVAL = 300
MIN_ACTIVITY_INTERVAL = 5


def activity_interval(idle_timeout_seconds: int) -> int:
    """How often activity is collected: a quarter of the idle timeout, within [5 s, 5 min].

    Servers report activity to the hub, and the hub reads the proxy's, at this interval; it
    must be well below the idle timeout or busy servers would be culled as idle.
    """
    return max(MIN_ACTIVITY_INTERVAL, min(MAX_ACTIVITY_INTERVAL, idle_timeout_seconds // 4))


def common_traits(spec: WorkspaceSpec) -> dict[str, Any]:
    """The hub configuration every runtime shares, as traitlets config sections.

    Runtime-specific settings (spawner class, ports, database, proxy) are merged on top by
    each runtime. The :data:`SPE_SECTION` section is consumed by ``jupyterhub_config.py``.
    """
    oauth = spec.oauth
    interval = activity_interval(spec.profile.idle_timeout_seconds)
    authenticator: dict[str, Any] = {
        "client_id": oauth.client_id,
        "client_secret": oauth.client_secret,
        "authorize_url": oauth.authorize_url,
        "token_url": oauth.token_url,
        "userdata_url": oauth.userdata_url,
        "scope": list(oauth.scopes),
        "username_claim": USERNAME_CLAIM,
        # Only the permit's named researchers, never "whoever is already in the hub database"
        # (JupyterHub's default keeps every previously allowed user allowed after a restart).
        "allowed_users": sorted(spec.users),
        "allow_all": False,
        # straight to the control plane: a signed-in researcher arrives in one redirect
        "auto_login": True,
        "allow_existing_users": False,
        "admin_users": [],
        # On, because refresh_user can only re-ask the control plane with the stored access
        # token; without auth state a revoked permit would stay usable until the cookie expires.
        "enable_auth_state": True,
        "refresh_pre_spawn": True,
        "auth_refresh_age": AUTH_REFRESH_SECONDS,
    }
    if oauth.callback_url:
        authenticator["oauth_callback_url"] = oauth.callback_url
    return {
        "JupyterHub": {
            "authenticator_class": "generic-oauth",
            "admin_access": False,
            "cookie_max_age_days": COOKIE_MAX_AGE_DAYS,
            "last_activity_interval": interval,
            # a researcher back on her lab's URL (re-added to the permit, the workspace
            # resumed, her server culled) gets her server started, not a 424 page
            "implicit_spawn_seconds": IMPLICIT_SPAWN_SECONDS,
            # the banner of the hub's pages (JupyterHub escapes nothing in it: plain text)
            "template_vars": {"announcement": html.escape(spec.notice)} if spec.notice else {},
        },
        "GenericOAuthenticator": authenticator,
        "Spawner": {
            "default_url": "/lab",
            "environment": {"JUPYTERHUB_ACTIVITY_INTERVAL": str(interval)},
        },
        SPE_SECTION: {
            "project_id": spec.project_id,
            "permit_reference": spec.permit_reference,
            "control_plane_url": spec.control_plane_url.rstrip("/"),
            "audit_url": spec.control_plane_url.rstrip("/") + AUDIT_INGEST_PATH,
            "audit_token": spec.hub_service_token,
            "idle_timeout_seconds": spec.profile.idle_timeout_seconds,
            # refused by the pre-spawn hook with this reason ("": new servers start)
            "spawn_refusal": spec.spawn_refusal,
        },
    }
