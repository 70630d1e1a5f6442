"""A tiny Kubernetes API server on 127.0.0.1 that records every request.

No real API server can run here, so the client layer is tested against this one: it keeps
objects in memory and answers as the API server does for the calls spe makes (GET object or
collection with an equality label selector, server-side apply PATCH, POST, PUT with
resourceVersion checks, DELETE), adds the fields the server populates (uid,
resourceVersion, creationTimestamp, managedFields, defaults, status), turns Secrets'
``stringData`` into ``data``, and refuses writes into a namespace that does not exist.
Tests assert on :attr:`FakeApiServer.requests` and can queue failures with :meth:`fail_next`.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    authorization: str | None
    body: Any


def _parse(path: str) -> tuple[str, str | None, str, str | None]:
    """``(api prefix, namespace, plural, name)`` of an API path."""
    parts = path.strip("/").split("/")
    cut = 2 if parts[0] == "api" else 3
    prefix, rest = "/".join(parts[:cut]), parts[cut:]
    if rest[0] == "namespaces" and len(rest) >= 3:
        return prefix, rest[1], rest[2], rest[3] if len(rest) > 3 else None
    return prefix, None, rest[0], rest[1] if len(rest) > 1 else None


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj.pop("status", None)
    for name in SERVER_FIELDS:
        obj.get("metadata", {}).pop(name, None)
    return obj


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply, roughly: maps merge, lists and scalars are replaced."""
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class FakeApiServer:
    objects: dict[tuple[str, str | None, str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[tuple[str, int]] = field(default_factory=list)
    version: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)
    names: dict[tuple[str, str], dict[str | None, set[str]]] = field(default_factory=dict)
    """(api prefix, plural) → namespace → names: a list reads its collection only, as a real
    API server does (a benchmark holds thousands of namespaces)."""
    url: str = ""

    def fail_next(self, method: str, status: int) -> None:
        """The next ``method`` request is answered with ``status``."""
        self.failures.append((method, status))

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    def put_object(self, path: str, obj: dict[str, Any]) -> None:
        """Store ``obj`` as if it had been created (test set-up)."""
        prefix, ns, plural, name = _parse(path)
        self._store((prefix, ns, plural, name), obj, created=True)

    def get_object(self, path: str) -> dict[str, Any] | None:
        return self.objects.get(_parse(path))

    # --- behaviour ----------------------------------------------------------------------

    def _store(self, k, obj, created: bool) -> dict[str, Any]:
        self.version += 1
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "Secret" and "stringData" in obj:
            data = obj.setdefault("data", {})
            for key, value in obj.pop("stringData").items():
                data[key] = base64.b64encode(value.encode()).decode()
        if obj.get("kind") == "Service":
            obj["spec"].setdefault("clusterIP", "10.96.0.42")
        if obj.get("kind") == "Deployment":
            obj["status"] = {"readyReplicas": obj["spec"].get("replicas", 1)}
        old = self.objects.get(k, {}).get("metadata", {})
        meta["uid"] = old.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = old.get("creationTimestamp", "2025-01-01T00:00:00Z")
        meta["resourceVersion"] = str(self.version)
        meta["managedFields"] = [{"manager": "spe", "operation": "Apply"}]
        self.objects[k] = obj
        self.names.setdefault((k[0], k[2]), {}).setdefault(k[1], set()).add(k[3])
        return obj

    def _remove(self, k) -> None:
        del self.objects[k]
        self.names[(k[0], k[2])][k[1]].discard(k[3])

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               content_type: str | None) -> tuple[int, Any]:
        for i, (fail_method, status) in enumerate(self.failures):
            if fail_method == method:
                del self.failures[i]
                return status, {"kind": "Status", "code": status, "message": "injected"}
        prefix, ns, plural, name = _parse(path)
        k = (prefix, ns, plural, name)
        if ns and method in ("PATCH", "POST", "PUT") and \
                ("api/v1", None, "namespaces", ns) not in self.objects:
            return 404, {"kind": "Status", "code": 404, "message": f"namespace {ns} not found"}
        if method == "GET" and name is None:
            return 200, {"kind": "List", "items": self._list(prefix, ns, plural, query)}
        if method == "GET":
            return (200, self.objects[k]) if k in self.objects else self._not_found(k)
        if method == "PATCH":
            if content_type != "application/apply-patch+yaml" or "fieldManager" not in query:
                return 415, {"kind": "Status", "code": 415, "message": "apply only"}
            current = self.objects.get(k)
            desired = self._normalised(body)
            if current is None:
                return 201, self._store(k, desired, created=True)
            merged = _merge(_strip(current), desired)
            if merged == _strip(current):
                return 200, current
            return 200, self._store(k, merged, created=False)
        if method == "POST":
            k = (prefix, ns, plural, body["metadata"]["name"])
            if k in self.objects:
                return 409, {"kind": "Status", "code": 409, "message": "already exists"}
            return 201, self._store(k, body, created=True)
        if method == "PUT":
            if k not in self.objects:
                return self._not_found(k)
            if body["metadata"].get("resourceVersion") != \
                    self.objects[k]["metadata"]["resourceVersion"]:
                return 409, {"kind": "Status", "code": 409, "message": "conflict"}
            return 200, self._store(k, body, created=False)
        if method == "DELETE":
            if k not in self.objects:
                return self._not_found(k)
            self._remove(k)
            if plural == "namespaces":
                for (p, pl), spaces in self.names.items():
                    for other in sorted(spaces.pop(name, ())):
                        del self.objects[(p, name, pl, other)]
            return 200, {"kind": "Status", "status": "Success"}
        return 405, {"kind": "Status", "code": 405}

    def _normalised(self, body: dict[str, Any]) -> dict[str, Any]:
        probe = copy.deepcopy(body)
        if probe.get("kind") == "Secret" and "stringData" in probe:
            data = probe.setdefault("data", {})
            for key, value in probe.pop("stringData").items():
                data[key] = base64.b64encode(value.encode()).decode()
        if probe.get("kind") == "Service":
            probe["spec"].setdefault("clusterIP", "10.96.0.42")
        return probe

    def _list(self, prefix, ns, plural, query) -> list[dict[str, Any]]:
        wanted = dict(p.split("=", 1) for p in query.get("labelSelector", "").split(",") if p)
        spaces = self.names.get((prefix, plural), {})
        chosen = spaces.items() if ns is None else [(ns, spaces.get(ns, ()))]
        keys = [(prefix, n, plural, name) for n, names in chosen for name in names]
        items = []
        for k in sorted(keys, key=str):
            obj = self.objects[k]
            labels = obj.get("metadata", {}).get("labels", {})
            if all(labels.get(a) == b for a, b in wanted.items()):
                item = copy.deepcopy(obj)
                item.pop("apiVersion", None)  # list items come without apiVersion and kind
                item.pop("kind", None)
                items.append(item)
        return items

    @staticmethod
    def _not_found(k) -> tuple[int, Any]:
        return 404, {"kind": "Status", "code": 404, "message": f"{k[2]} {k[3]} not found"}


def serve(api: FakeApiServer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # connections kept open, as an API server does
        disable_nagle_algorithm = True  # headers and body in two writes: no 40 ms wait

        def _any(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with api.lock:
                api.requests.append(Recorded(self.command, split.path, query,
                                             self.headers.get("Content-Type"),
                                             self.headers.get("Authorization"), body))
                status, answer = api.handle(self.command, split.path, query, body,
                                            self.headers.get("Content-Type"))
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, format, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return server
