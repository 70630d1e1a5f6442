"""The one narrow door to the Kubernetes API: JSON over the ``kubernetes`` client's HTTP layer.

Everything spe asks of the API server fits in a handful of verbs on paths (get, list, apply,
create, replace, delete), so this wraps :class:`kubernetes.client.ApiClient` (configuration,
authentication, TLS, connection pool) and skips its generated models: objects stay plain dicts
from rendering to the wire. Failures become the runtime's error types: retryable (conflict,
throttling, server errors, no connection, a namespace not there yet) or terminal (forbidden,
invalid, anything else the server refuses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s

from spe.errors import RetryableError, TerminalError

APPLY_PATCH = "application/apply-patch+yaml"
RETRYABLE_STATUSES = frozenset({404, 409, 429, 500, 502, 503, 504})
"""404 counts as transient when writing: the namespace of the object may not exist *yet*."""


class KubeRetryableError(RetryableError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class KubeTerminalError(TerminalError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Resource:
    """Where objects of one kind live in the API."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def object_path(self, obj: dict[str, Any]) -> str:
        meta = obj["metadata"]
        if self.namespaced and not meta.get("namespace"):
            raise KubeTerminalError(f"{self.kind} {meta['name']} has no namespace", 422)
        return self.path(meta.get("namespace") if self.namespaced else None, meta["name"])


class KubeClient:
    """JSON requests to the API server, through an :class:`ApiClient`."""

    def __init__(self, api_client: k8s.ApiClient | None = None, timeout: float = 30.0):
        self.api = api_client or k8s.ApiClient()
        self.timeout = timeout

    def request(self, method: str, path: str, *, query: list[tuple[str, str]] | None = None,
                body: dict[str, Any] | None = None,
                content_type: str = "application/json") -> tuple[int, dict[str, Any] | None]:
        """``(status, JSON body)``; raises on any status but 2xx and 404."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, data, _ = self.api.param_serialize(
            method, path, query_params=query or [], header_params=headers,
            body=body, auth_settings=["BearerToken"])  # the REST layer encodes it as JSON
        try:
            response = self.api.call_api(method, url, header_params=headers, body=data,
                                         _request_timeout=self.timeout)
            raw = response.read()
        except urllib3.exceptions.HTTPError as exc:
            raise KubeRetryableError(f"{method} {path}: {exc}") from exc
        payload = json.loads(raw) if raw else None
        if 200 <= response.status < 300 or response.status == 404:
            return response.status, payload
        reason = payload.get("message", "") if isinstance(payload, dict) else ""
        message = f"{method} {path}: {response.status} {reason or response.reason}"
        if response.status in RETRYABLE_STATUSES:
            raise KubeRetryableError(message, response.status)
        raise KubeTerminalError(message, response.status)

    def get(self, path: str) -> dict[str, Any] | None:
        status, body = self.request("GET", path)
        return None if status == 404 else body

    def list(self, path: str, label_selector: dict[str, str]) -> list[dict[str, Any]]:
        status, body = self.request("GET", path, query=[
            ("labelSelector", ",".join(f"{k}={v}" for k, v in sorted(label_selector.items())))])
        return [] if status == 404 or body is None else body.get("items", [])

    def apply(self, path: str, obj: dict[str, Any], field_manager: str) -> tuple[int, dict]:
        """Server-side apply, taking ownership of every field ``obj`` sets (``force``)."""
        status, body = self.request("PATCH", path, body=obj, content_type=APPLY_PATCH,
                                    query=[("fieldManager", field_manager), ("force", "true")])
        return self._written(status, body, "PATCH", path)

    def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        status, body = self.request("POST", path, body=obj)
        return self._written(status, body, "POST", path)[1]

    def replace(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """PUT: the server refuses (409) if ``obj``'s resourceVersion is no longer current."""
        status, body = self.request("PUT", path, body=obj)
        return self._written(status, body, "PUT", path)[1]

    def delete(self, path: str) -> bool:
        """Delete in the background; ``False`` if it was already gone."""
        status, _ = self.request("DELETE", path,
                                 body={"kind": "DeleteOptions", "apiVersion": "v1",
                                       "propagationPolicy": "Background"})
        return status != 404

    @staticmethod
    def _written(status: int, body: dict | None, method: str, path: str) -> tuple[int, dict]:
        if status == 404 or body is None:
            raise KubeRetryableError(f"{method} {path}: {status}", status)
        return status, body
