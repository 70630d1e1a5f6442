"""A narrow client for the parts of the JupyterHub REST API the local runtime uses.

It authenticates as the runtime's own hub service (role ``spe-runtime``: ``admin:servers`` and
``list:users``) — it can list, start and stop servers, nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from spe.errors import RetryableError

RUNTIME_SERVICE = "spe-runtime"
RUNTIME_SCOPES = ["admin:servers", "list:users"]


@dataclass(frozen=True)
class ServerInfo:
    user: str
    name: str  # "" for the default server
    ready: bool
    pid: int | None  # from the spawner state (admin:server_state)


class HubAPI:
    def __init__(self, api_url: str, token: str, timeout: float = 30.0) -> None:
        # above the hub's slow_spawn_timeout (10 s), after which a spawn request answers 202
        self._client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"token {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HubAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise RetryableError(f"hub API {method} {path}: {e}") from e
        if response.status_code >= 400:
            raise RetryableError(
                f"hub API {method} {path}: {response.status_code} {response.text[:200]}"
            )
        return response

    def servers(self) -> list[ServerInfo]:
        """Every server the hub knows as active (starting, running or stopping)."""
        users = self._request("GET", "/users", params={"state": "active"}).json()
        if isinstance(users, dict):  # paginated form
            users = users["items"]
        return [
            ServerInfo(user["name"], name, bool(server.get("ready")),
                       (server.get("state") or {}).get("pid"))
            for user in users
            for name, server in (user.get("servers") or {}).items()
        ]

    def start_server(self, user: str, name: str = "") -> None:
        self._request("POST", _server_path(user, name))

    def stop_server(self, user: str, name: str = "") -> None:
        self._request("DELETE", _server_path(user, name))

    def wait_stopped(self, users: set[str] | None = None, timeout: float = 30.0) -> None:
        """Wait until the hub reports no active server (of ``users``, if given)."""
        deadline = time.monotonic() + timeout
        while any(users is None or s.user in users for s in self.servers()):
            if time.monotonic() > deadline:
                raise RetryableError("servers still active after stop request")
            time.sleep(0.2)

    def wait_ready(self, user: str, name: str = "", timeout: float = 60.0) -> ServerInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for server in self.servers():
                if (server.user, server.name) == (user, name) and server.ready:
                    return server
            time.sleep(0.2)
        raise RetryableError(f"server {user}/{name} not ready after {timeout} s")


def _server_path(user: str, name: str) -> str:
    return f"/users/{user}/servers/{name}" if name else f"/users/{user}/server"
