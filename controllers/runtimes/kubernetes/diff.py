"""What differs between desired objects and what the API server holds: a pure function.

Comparison is one way: every field a desired object sets must be in the observed object
with the same value; whatever else the server holds (status, uid, resourceVersion,
managedFields, defaulted fields, other managers' labels) is ignored, which is exactly what
server-side apply promises to converge. Secrets are compared through their ``data`` (the
server never returns ``stringData``), and their values never appear in a difference.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controllers.runtimes.kubernetes.apply import key

REDACTED = "<redacted>"


class DiffKind(StrEnum):
    MISSING = "missing"  # desired, not on the server
    CHANGED = "changed"  # on the server, but a desired field differs
    UNEXPECTED = "unexpected"  # on the server (with spe's labels), not desired


@dataclass(frozen=True)
class Difference:
    kind: DiffKind
    object: tuple[str, str, str, str]  # apiVersion, kind, namespace, name
    path: str = ""
    desired: Any = None
    observed: Any = None

    def __str__(self) -> str:
        _, kind, namespace, name = self.object
        where = f"{kind} {namespace + '/' if namespace else ''}{name}"
        if self.kind is DiffKind.CHANGED:
            return f"{where}: {self.path} is {self.observed!r}, want {self.desired!r}"
        return f"{where}: {self.kind}"


def diff(desired: Iterable[dict[str, Any]],
         observed: Iterable[dict[str, Any]]) -> list[Difference]:
    """Differences, in the order of ``desired`` then of ``observed``; empty when in sync."""
    found = {key(obj): obj for obj in observed}
    differences: list[Difference] = []
    wanted = set()
    for obj in desired:
        k = key(obj)
        wanted.add(k)
        if k not in found:
            differences.append(Difference(DiffKind.MISSING, k))
            continue
        secret = obj["kind"] == "Secret"
        want = _secret_as_data(obj) if secret else obj
        for path, w, o in _compare(want, found[k], ""):
            if secret:
                w, o = REDACTED, REDACTED
            differences.append(Difference(DiffKind.CHANGED, k, path, w, o))
    differences += [Difference(DiffKind.UNEXPECTED, k) for k in found if k not in wanted]
    return differences


def _secret_as_data(obj: dict[str, Any]) -> dict[str, Any]:
    plain = obj.get("stringData")
    if not plain:
        return obj
    data = dict(obj.get("data", {}))
    data.update({k: base64.b64encode(v.encode()).decode() for k, v in plain.items()})
    return {**{k: v for k, v in obj.items() if k != "stringData"}, "data": data}


_MISSING = object()


def _compare(want: Any, have: Any, path: str):
    """Yield ``(path, desired, observed)`` wherever ``have`` does not contain ``want``."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            yield path or ".", want, have
            return
        for k, w in want.items():
            yield from _compare(w, have.get(k, _MISSING), f"{path}.{k}" if path else k)
    elif isinstance(want, list):
        if not isinstance(have, list) or len(have) != len(want):
            yield path, want, None if have is _MISSING else have
            return
        for i, (w, h) in enumerate(zip(want, have, strict=True)):
            yield from _compare(w, h, f"{path}[{i}]")
    elif have is _MISSING:
        yield path, want, None
    elif want != have:
        yield path, want, have
