"""Render and diff the desired Kubernetes objects of 1,000 projects.

    python -m benchmarks.kubernetes [--projects 1000]

The controller renders every project's objects and diffs them against what the API server
returned on each reconcile pass, so this is the pure CPU cost of one pass. The observed
side is prepared beforehand, as the API server would return it (server fields, defaults,
Secret ``data``). Each figure is the best of three runs. Baseline, measured in the same run:
``copy.deepcopy`` of the same objects, the cheapest thing one could do with them. Target:
the whole pass under 5 s.
"""

from __future__ import annotations

import argparse
import base64
import copy
import dataclasses
import time

from controllers.profiles import load_profile
from controllers.runtimes.kubernetes.diff import diff
from controllers.runtimes.kubernetes.render import render
from controllers.runtimes.kubernetes.settings import ClusterSettings
from workspaces.spec import ExtractRef, HubOAuthClient, WorkspaceSpec

TARGET_SECONDS = 5.0


def specs(count: int) -> list[WorkspaceSpec]:
    profile = load_profile("standard")
    oauth = HubOAuthClient("hub", "client-secret", "https://spe.example.org/oauth/authorize",
                           "https://spe.example.org/oauth/token",
                           "https://spe.example.org/oauth/userinfo")
    template = WorkspaceSpec(
        project_id="p-0", permit_reference="PERMIT-0", users=("alice", "bob", "carol"),
        profile=profile, oauth=oauth, control_plane_url="https://spe.example.org",
        hub_service_token="token",  # noqa: S106  (a stand-in, replaced per project)
        extract=ExtractRef("m", "https://spe.example.org/api/v1/extracts/grant", "grant"),
        work_area_key="a-stand-in-for-the-project-work-area-key")
    return [dataclasses.replace(template, project_id=f"p-{i:08x}",
                                permit_reference=f"PERMIT-{i}", hub_service_token=f"t-{i}")
            for i in range(count)]


def as_served(objects: list[dict]) -> list[dict]:
    """``objects`` as the API server returns them after apply."""
    served = copy.deepcopy(objects)
    for i, obj in enumerate(served):
        obj["metadata"].update(uid=f"uid-{i}", resourceVersion=str(1000 + i),
                               creationTimestamp="2025-01-01T00:00:00Z",
                               managedFields=[{"manager": "spe", "operation": "Apply"}])
        if obj["kind"] == "Secret":
            obj["data"] = {k: base64.b64encode(v.encode()).decode()
                           for k, v in obj.pop("stringData").items()}
        obj["status"] = {}
    return served


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Best of ``repeat`` runs (seconds) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    count = parser.parse_args().projects
    cluster = ClusterSettings(api_server_cidrs=("10.96.0.1/32",), ingress_domain="ws.example.org",
                              storage_class="rbd", shared_storage_class="cephfs",
                              encrypted_storage_classes=("rbd", "cephfs"))
    workload = specs(count)
    observed = [as_served(render(s, cluster)) for s in workload]  # not timed

    render_s, desired = timed(lambda: [render(s, cluster) for s in workload])
    diff_s, differences = timed(lambda: [diff(d, o) for d, o in zip(desired, observed,
                                                                     strict=True)])
    both_s, _ = timed(lambda: [diff(render(s, cluster), o)
                               for s, o in zip(workload, observed, strict=True)])
    copy_s, _ = timed(lambda: copy.deepcopy(desired))
    assert not any(differences), "a freshly served workspace must have no differences"

    objects = sum(len(d) for d in desired)
    print(f"{count} projects, {objects} objects ({objects // count} per project)")
    print(f"{'measure':<28}{'total s':>10}{'per project ms':>16}{'x deepcopy':>12}")
    for name, seconds in (("render", render_s), ("diff", diff_s),
                          ("render + diff (one pass)", both_s),
                          ("baseline: deepcopy", copy_s)):
        print(f"{name:<28}{seconds:>10.3f}{seconds / count * 1000:>16.3f}"
              f"{seconds / copy_s:>12.2f}")
    verdict = "meets" if both_s < TARGET_SECONDS else "MISSES"
    print(f"one pass {both_s:.2f} s {verdict} the target of {TARGET_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
