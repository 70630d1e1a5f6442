"""Pod Security Standards ``restricted`` (v1.33) as assertions on a pod spec.

Written from https://kubernetes.io/docs/concepts/security/pod-security-standards/ so that the
rendered objects and the Helm chart are checked by the rules themselves, not by a copy of
the values they were rendered with.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                   "persistentVolumeClaim", "projected", "secret"}


def all_containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod_spec.get("initContainers", []), *pod_spec.get("containers", []),
            *pod_spec.get("ephemeralContainers", [])]


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """Every way ``pod_spec`` breaks ``restricted`` (empty when it complies)."""
    problems = []
    pod = pod_spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(host):
            problems.append(f"pod sets {host}")
    for volume in pod_spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} is {kinds - ALLOWED_VOLUMES}")
    if pod.get("runAsUser") == 0:
        problems.append("pod runs as uid 0")
    for c in all_containers(pod_spec):
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            problems.append(f"{name} is privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name} may escalate privileges")
        if not (sc.get("runAsNonRoot") or (pod.get("runAsNonRoot")
                                            and sc.get("runAsNonRoot") is not False)):
            problems.append(f"{name} may run as root")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name} runs as uid 0")
        caps = sc.get("capabilities") or {}
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{name} does not drop ALL capabilities")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name} adds capabilities {caps['add']}")
        seccomp = (sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name} has seccomp {seccomp}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{name} uses a host port")
    return problems
