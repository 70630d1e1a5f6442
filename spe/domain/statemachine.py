"""One shape for spe's state machines: a transition table, check and can, an audited apply,
and the Mermaid diagram drawn from the table.

Permits (:mod:`spe.domain.permit_lifecycle`), workspaces (:mod:`spe.domain.workspace_lifecycle`)
and egress requests (:mod:`spe.airlock.review`) each declare a :class:`StateMachine`. What the
state allows is decided here; who may act is each machine's own rule (roles for permits, the
airlock's actors for requests, the reconciler alone for workspaces), read from
:attr:`Transition.who`. :meth:`StateMachine.apply` changes the state and appends the
transition's audit event in the caller's transaction: the change and its record commit
together or not at all. The docs show :meth:`StateMachine.diagram`, and tests keep them equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlmodel import Session

from spe.audit import Actor, record
from spe.errors import Conflict
from spe.messages import Message


def _text(state: Any) -> str:
    return state.value if isinstance(state, Enum) else str(state)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset
    target: Any  # None: the caller names the target when applying (e.g. "back to the prior")
    action: str  # the audit action written when it is applied
    who: Any = None  # what the machine's rule about who reads (roles, an actor's kind)
    needs_reason: bool = False
    label: str | None = None  # the diagram's label, when not the name


@dataclass(frozen=True)
class StateMachine:
    noun: str  # "permit", "request", "workspace": in refusals
    code: str  # the refusal's error code
    table: tuple[Transition, ...]
    start: tuple[Any, str] | None = None  # (first state, how it is reached) for the diagram
    refusal: Callable[[Transition, Any, str], Message] | None = None
    transitions: dict[str, Transition] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transitions", {t.name: t for t in self.table})

    def __getitem__(self, name: str) -> Transition:
        return self.transitions[name]

    @property
    def states(self) -> set:
        found = {s for t in self.table for s in t.sources}
        found |= {t.target for t in self.table if t.target is not None}
        return found | ({self.start[0]} if self.start else set())

    # --- what the state allows ----------------------------------------------------------
    def check(self, name: str, current: Any, ident: str) -> Transition:
        """The transition, if it applies to an object in state ``current``; raises a
        :class:`Conflict` naming the current state and the states it applies to."""
        transition = self.transitions[name]
        if current not in transition.sources:
            raise Conflict(self._refusal(transition, current, ident), code=self.code)
        return transition

    def can(self, name: str, current: Any) -> bool:
        return current in self.transitions[name].sources

    def _refusal(self, transition: Transition, current: Any, ident: str) -> Message:
        """The refusal, its words (transition, noun, states) each translatable."""
        if self.refusal is not None:
            return self.refusal(transition, current, ident)
        allowed = Message.listing(Message(s) for s in sorted(_text(s) for s in transition.sources))
        return Message("cannot {transition} {noun} {ident}: it is {current}; {transition} "
                       "applies to a {noun} that is {allowed}", transition=Message(transition.name),
                       noun=Message(self.noun), ident=ident, current=Message(_text(current)),
                       allowed=allowed)

    @property
    def words(self) -> set[str]:
        """What a refusal may put in its sentence as words: the noun, transitions, states."""
        return {self.noun, *self.transitions, *(_text(s) for s in self.states)}

    # --- changing ---------------------------------------------------------------------------
    def apply(self, session: Session, row: Any, name: str, *, actor: Actor, target_type: str,
              target_id: str, project_id: str | None = None, target: Any = None,
              attribute: str = "status", outcome: str = "success",
              details: dict | None = None) -> Any:
        """Move ``row`` along transition ``name`` (checked by the caller) and append its audit
        event, with the states it left and reached, in the caller's transaction. Returns the
        state it left."""
        transition = self.transitions[name]
        previous = getattr(row, attribute)
        reached = transition.target if target is None else target
        setattr(row, attribute, reached)
        session.add(row)
        session.flush()
        record(session, action=transition.action, actor=actor, outcome=outcome,
               target_type=target_type, target_id=target_id, project_id=project_id,
               details={"from": _text(previous), "to": _text(reached), **(details or {})})
        return previous

    # --- drawing ----------------------------------------------------------------------------
    def diagram(self, label: Callable[[Transition], str] | None = None,
                target: Callable[[Transition], Any] | None = None,
                final: Iterable | None = None) -> str:
        """A Mermaid state diagram of the table: one arrow per (source, transition), in the
        table's order; the states no transition leaves end the diagram."""
        label = label or (lambda t: t.label or t.name)
        target = target or (lambda t: t.target)
        lines = ["stateDiagram-v2"]
        if self.start is not None:
            lines.append(f"    [*] --> {_text(self.start[0])}: {self.start[1]}")
        for t in self.table:
            for source in sorted(t.sources, key=_text):
                lines.append(f"    {_text(source)} --> {_text(target(t))}: {label(t)}")
        if final is None:
            left = {s for t in self.table for s in t.sources}
            final = sorted(self.states - left, key=_text)
        lines += [f"    {_text(s)} --> [*]" for s in final]
        return "\n".join(lines) + "\n"
