"""The workspace state machine: the only code that writes a project's observed state.

The reconciler calls :func:`observe` after each action on the runtime. A change of state is
checked against :data:`TRANSITIONS` and audited in the same transaction; an unchanged
observation only refreshes the time it was seen.

    absent ──► provisioning ──► ready ◄──► suspended
       ▲            │             │            │
       │            └──► error ◄──┘            │
       └──────────── deleted ◄─────────────────┘   (from any state)
"""

from __future__ import annotations

from sqlmodel import Session

from spe.audit import Actor, record
from spe.db.types import utcnow
from spe.domain.projects import Project
from spe.errors import Conflict

STATES = ("absent", "provisioning", "ready", "suspended", "error", "deleted")

TRANSITIONS: dict[str, frozenset[str]] = {
    "absent": frozenset({"provisioning", "ready", "suspended", "error", "deleted"}),
    "provisioning": frozenset({"ready", "suspended", "error", "deleted", "absent"}),
    "ready": frozenset({"provisioning", "suspended", "error", "deleted", "absent"}),
    "suspended": frozenset({"provisioning", "ready", "error", "deleted", "absent"}),
    "error": frozenset({"provisioning", "ready", "suspended", "deleted", "absent"}),
    "deleted": frozenset({"absent"}),  # only a re-granted project comes back
}

ACTIONS = {"ready": "workspace.ready", "suspended": "workspace.suspend",
           "deleted": "workspace.delete", "error": "workspace.error",
           "provisioning": "workspace.provision", "absent": "workspace.absent"}


def check_can_move(project: Project, state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown workspace state {state!r}")
    current = project.observed_state
    if state != current and state not in TRANSITIONS[current]:
        raise Conflict(f"workspace of {project.id} cannot go from {current} to {state}",
                       code="workspace.invalid_transition")


def observe(session: Session, project: Project, state: str, *, actor: Actor,
            message: str = "", url: str | None = None, details: dict | None = None) -> bool:
    """Record what the runtime reports; returns whether the state changed."""
    check_can_move(project, state)
    changed = state != project.observed_state
    project.observed_message = message[:2000]
    project.workspace_url = url
    project.observed_at = utcnow()
    if changed:
        previous = project.observed_state
        project.observed_state = state
        record(session, action=ACTIONS[state], actor=actor,
               outcome="error" if state == "error" else "success", target_type="project",
               target_id=project.id, project_id=project.id,
               details={"from": previous, **(details or {})})
    session.add(project)
    return changed
