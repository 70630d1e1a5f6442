"""The workspace state machine: the only code that writes a project's observed state.

The reconciler calls :func:`observe` after each action on the runtime. A change of state is
checked against :data:`MACHINE` and audited in the same transaction; an unchanged
observation only refreshes the time it was seen. The table holds the moves the reconciler
makes and no others (docs/workspaces.md draws it):

* ``provision``: a workspace made ready from nothing (absent, or after an error) or
  restarted with a changed configuration; ``ready`` when the runtime reports it healthy;
* ``suspend``: the permit is suspended (or the control plane stops with the workspace
  running); ``stop``: the runtime reports nothing there any more;
* ``delete``: the permit ended; only ``stop`` (nothing left) or ``fail`` leave ``deleted``,
  since an ended permit never comes back;
* ``fail``: the runtime failed in a way retrying does not mend (any state but ``error``).
"""

from __future__ import annotations

from sqlmodel import Session

from spe.audit import Actor
from spe.db.types import utcnow
from spe.domain.projects import Project
from spe.domain.statemachine import StateMachine, Transition
from spe.messages import Message

STATES = ("absent", "provisioning", "ready", "suspended", "error", "deleted")
RECONCILER = "reconciler"


def _from(*states: str) -> frozenset[str]:
    return frozenset(states)


MACHINE = StateMachine(
    "workspace", "workspace.invalid_transition", start=("absent", "project created"),
    refusal=lambda t, current, ident: Message(
        "workspace of {ident} cannot go from {current} to {target}", ident=ident,
        current=Message(str(current)), target=Message(str(t.target))),
    table=(
        Transition("provision", _from("absent", "ready", "suspended", "error"), "provisioning",
                   "workspace.provision", RECONCILER),
        Transition("ready", _from("provisioning", "suspended"), "ready", "workspace.ready",
                   RECONCILER),
        Transition("suspend", _from("absent", "provisioning", "ready", "error"), "suspended",
                   "workspace.suspend", RECONCILER),
        Transition("stop", _from("provisioning", "ready", "suspended", "error", "deleted"),
                   "absent", "workspace.absent", RECONCILER),
        Transition("delete", _from("absent", "provisioning", "ready", "suspended", "error"),
                   "deleted", "workspace.delete", RECONCILER),
        Transition("fail", _from("absent", "provisioning", "ready", "suspended", "deleted"),
                   "error", "workspace.error", RECONCILER),
    ))
TRANSITIONS = MACHINE.transitions
BY_TARGET = {t.target: t for t in MACHINE.table}  # one transition reaches each state


def check_can_move(project: Project, state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown workspace state {state!r}")
    if state != project.observed_state:
        MACHINE.check(BY_TARGET[state].name, project.observed_state, project.id)


def can_move(project: Project, state: str) -> bool:
    return state == project.observed_state or \
        (state in BY_TARGET and MACHINE.can(BY_TARGET[state].name, project.observed_state))


def observe(session: Session, project: Project, state: str, *, actor: Actor,
            message: str = "", url: str | None = None, details: dict | None = None) -> bool:
    """Record what the runtime reports; returns whether the state changed."""
    check_can_move(project, state)
    changed = state != project.observed_state
    project.observed_message = message[:2000]
    project.workspace_url = url
    project.observed_at = utcnow()
    if changed:
        MACHINE.apply(session, project, BY_TARGET[state].name, actor=actor,
                      target_type="project", target_id=project.id, project_id=project.id,
                      attribute="observed_state",
                      outcome="error" if state == "error" else "success", details=details)
    session.add(project)
    return changed


def state_diagram() -> str:
    """A Mermaid state diagram generated from :data:`MACHINE` (used in docs/workspaces.md)."""
    return MACHINE.diagram(final=())
