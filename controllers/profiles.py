"""Workspace profiles: ``policies/workspace-profiles/<name>.yaml`` as :class:`WorkspaceProfile`.

The schema checks each field's shape; this module checks what a schema cannot: requests
within limits, and a quota that leaves room for every server the profile allows plus the hub.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubernetes.utils.quantity import parse_quantity

import policies
from workspaces.spec import WorkspaceProfile

KIND = "workspace-profiles"
SHARED_CLAIMS = 3  # the hub's database, the project folder, the extract
_FIELDS = {f.name for f in dataclasses.fields(WorkspaceProfile)}


class ProfileError(ValueError):
    """A workspace profile whose numbers do not fit together."""


def profile_from_dict(data: dict[str, Any]) -> WorkspaceProfile:
    """The profile a validated policy dict describes (``description`` is documentation only)."""
    unknown = set(data) - _FIELDS - {"description"}
    if unknown:
        raise ProfileError(f"unknown profile fields: {', '.join(sorted(unknown))}")
    fields = {k: v for k, v in data.items() if k in _FIELDS}
    fields["node_selector"] = tuple(sorted((data.get("node_selector") or {}).items()))
    fields["tolerations"] = tuple((t["key"], t.get("operator", "Exists"), t.get("effect", ""))
                                  for t in data.get("tolerations") or [])
    profile = WorkspaceProfile(**fields)
    _check(profile)
    return profile


def load_profile(name: str) -> WorkspaceProfile:
    """The shipped profile ``name``; :class:`policies.PolicyError` if absent or invalid."""
    return profile_from_dict(policies.load(KIND, name))


def _check(p: WorkspaceProfile) -> None:
    for what, request, limit in (("cpu", p.cpu_request, p.cpu_limit),
                                 ("memory", p.memory_request, p.memory_limit)):
        if parse_quantity(request) > parse_quantity(limit):
            raise ProfileError(f"profile {p.name!r}: {what} request {request} exceeds"
                               f" limit {limit}")
    if p.quota_pods < p.max_servers + 2:
        raise ProfileError(f"profile {p.name!r}: quota_pods {p.quota_pods} leaves no room for the"
                           f" hub and the extract job beside {p.max_servers} servers")
    if p.quota_pvcs < p.max_servers + SHARED_CLAIMS:
        raise ProfileError(f"profile {p.name!r}: quota_pvcs {p.quota_pvcs} leaves no room for the"
                           f" hub's database, the project folder and the extract beside"
                           f" {p.max_servers} work areas")
    if p.gpus and p.quota_gpus < p.gpus:
        raise ProfileError(f"profile {p.name!r}: quota_gpus {p.quota_gpus} is below one"
                           f" server's {p.gpus} GPUs")
    for what, quota, limit in (("cpu", p.quota_cpu, p.cpu_limit),
                               ("memory", p.quota_memory, p.memory_limit)):
        if parse_quantity(quota) < p.max_servers * parse_quantity(limit):
            raise ProfileError(f"profile {p.name!r}: quota_{what} {quota} is below"
                               f" {p.max_servers} servers x {limit}")
