"""JupyterHub configuration of a spe project hub (static; shipped as package data).

Loads the JSON traits written by the runtime (file named by ``SPE_HUB_CONFIG``, produced by
``workspaces.hubconfig.common_traits`` plus runtime settings) and adds what JSON cannot say:

* audit events (login, server start, server stop) POSTed to the control plane's
  ``/api/v1/audit/ingest``, best effort: sent in the background with a short timeout, a log
  line on failure, never blocking a login or a spawn;
* the ``jupyterhub-idle-culler`` service, run with the hub's own Python, stopping servers idle
  for the profile's ``idle_timeout_seconds``.

Self-contained on purpose (standard library, tornado and traitlets only): the Kubernetes
runtime mounts this file into a stock hub image that does not have spe installed.
"""

import asyncio
import json
import os
import sys
from datetime import UTC, datetime

from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets.config import Config

AUDIT_TIMEOUT_SECONDS = 5.0

c = get_config()  # noqa: F821  (provided by traitlets when it runs this file)

with open(os.environ["SPE_HUB_CONFIG"], encoding="utf-8") as f:
    traits = json.load(f)
spe = traits.pop("SpeHub")
members = frozenset(traits.get("GenericOAuthenticator", {}).get("allowed_users", []))
"""The permit's members now. A member amended away stays a user in the hub's database, and
an admin start (the runtime's own service may start servers) would otherwise still work."""

_pending = set()  # keep references to in-flight audit posts until they finish


async def _post_audit(log, event):
    body = json.dumps({"format": "spe.hub.v1", "events": [event]})  # spe.audit.ingest.HubBatch
    request = HTTPRequest(
        spe["audit_url"],
        method="POST",
        body=body,
        headers={
            "Authorization": f"Bearer {spe['audit_token']}",
            "Content-Type": "application/json",
        },
        connect_timeout=AUDIT_TIMEOUT_SECONDS,
        request_timeout=AUDIT_TIMEOUT_SECONDS,
    )
    try:
        await AsyncHTTPClient().fetch(request)
    except Exception as e:
        log.warning("spe audit: %s for %s not recorded: %s", event["action"], event["user"], e)


def _audit(log, action, username, server_name, outcome="success"):
    event = {
        "action": action,
        "user": username,
        "server": server_name or "",
        "outcome": outcome,
        "project_id": spe["project_id"],
        "occurred_at": datetime.now(UTC).isoformat(),
    }
    task = asyncio.get_running_loop().create_task(_post_audit(log, event))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def post_auth_hook(authenticator, handler, auth_model):
    _audit(authenticator.log, "workspace.login", auth_model["name"], "")
    return auth_model


async def _workspace_token(log, username):
    """A short-lived token for ``username`` scoped to this project (for ``spe egress``)."""
    url = f"{spe['control_plane_url']}/api/v1/projects/{spe['project_id']}/workspace-token"
    request = HTTPRequest(url, method="POST", body=json.dumps({"user": username}), headers={
        "Authorization": f"Bearer {spe['audit_token']}", "Content-Type": "application/json",
    }, connect_timeout=AUDIT_TIMEOUT_SECONDS, request_timeout=AUDIT_TIMEOUT_SECONDS)
    try:
        response = await AsyncHTTPClient().fetch(request)
        return json.loads(response.body)["token"]
    except Exception as e:
        log.warning("spe egress: no workspace token for %s: %s", username, e)
        return None


async def pre_spawn_hook(spawner):
    """Refuse the start of anyone the permit no longer names, and of everyone if the
    control plane said so (a spent budget); else audit it and give the server what
    ``spe egress submit`` needs: the control plane's address and a token for this user and
    this project only."""
    if spawner.user.name not in members:
        _audit(spawner.log, "workspace.server.start", spawner.user.name, spawner.name,
               outcome="denied")
        raise web.HTTPError(403, f"{spawner.user.name} is not named in this project's permit")
    if spe.get("spawn_refusal"):
        _audit(spawner.log, "workspace.server.start", spawner.user.name, spawner.name,
               outcome="denied")
        raise web.HTTPError(403, spe["spawn_refusal"])
    _audit(spawner.log, "workspace.server.start", spawner.user.name, spawner.name)
    token = await _workspace_token(spawner.log, spawner.user.name)
    if token is None:
        return
    egress = {"SPE_EGRESS_URL": spe["control_plane_url"], "SPE_EGRESS_TOKEN": token,
              "SPE_EGRESS_PROJECT": spe["project_id"]}
    if hasattr(spawner, "egress_environment"):  # the local runtime's spawner
        spawner.egress_environment = egress
    else:
        spawner.environment = {**spawner.environment, **egress}


def post_stop_hook(spawner):
    _audit(spawner.log, "workspace.server.stop", spawner.user.name, spawner.name)


hub = traits.setdefault("JupyterHub", {})
timeout = int(spe["idle_timeout_seconds"])
if timeout > 0:
    hub["services"] = [
        *hub.get("services", []),
        {
            "name": "idle-culler",
            "command": [
                sys.executable, "-m", "jupyterhub_idle_culler",
                f"--timeout={timeout}", f"--cull-every={max(1, timeout // 2)}",
            ],
            # the local runtime finds a workspace's processes by this variable
            "environment": {k: os.environ[k] for k in ["SPE_WORKSPACE"] if k in os.environ},
        },
    ]
    hub["load_roles"] = [
        *hub.get("load_roles", []),
        {
            "name": "idle-culler",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"],
        },
    ]

c.merge(Config(traits))
c.Authenticator.post_auth_hook = post_auth_hook
c.Spawner.pre_spawn_hook = pre_spawn_hook
c.Spawner.post_stop_hook = post_stop_hook
