"""The one way a state-changing route runs: check, apply, audit, commit, answer.

A route that changes state (every POST, PUT, PATCH and DELETE of the API and the console)
does its work inside ``with changes.run(session, principal, action, target_type,
target_id):``. The domain or airlock function it calls checks and applies the
change and appends the success's audit event in the request's transaction; on leaving the
block the change and its event commit together (a constraint violation becomes a 409). A
refusal — any :class:`SpeError` raised in the block, a failed commit, or a refusal the
route answers itself with a page (:meth:`Step.refuse`) — rolls the request's work back and
is audited as ``action``, outcome ``denied``, in a transaction of its own, so it is kept
although the request fails. The route then answers (a view of what changed, a redirect).

``tests/api/test_state_changes.py`` walks every route: one that changes state without
running its work through :func:`run` fails it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlmodel import Session

from spe.api.denials import ANONYMOUS
from spe.api.deps import commit
from spe.audit import record
from spe.db import session_scope
from spe.domain.principal import Principal
from spe.errors import SpeError


@dataclass
class Step:
    """The block's handle: a refusal the route answers itself (a page) is said here."""

    refused: tuple[str, str] | None = None  # (code, reason)

    def refuse(self, code: str, reason: str) -> None:
        self.refused = (code, reason)


@contextmanager
def run(session: Session, principal: Principal | None, action: str, target_type: str,
        target_id: str | None = None) -> Iterator[Step]:
    """Around the work of a state-changing route: commit it with its audit event, or roll it
    back and audit the refusal in a transaction of its own (an error is re-raised)."""
    step = Step()
    target_id = target_id[:200] if target_id else target_id
    try:
        yield step
        if step.refused is None:
            commit(session)
    except SpeError as exc:
        session.rollback()
        _audit_refusal(session, principal, action, target_type, target_id, exc.code,
                       exc.message)
        raise
    if step.refused is not None:
        session.rollback()
        _audit_refusal(session, principal, action, target_type, target_id, *step.refused)


def _audit_refusal(session: Session, principal: Principal | None, action: str,
                   target_type: str, target_id: str | None, code: str, reason: str) -> None:
    with session_scope(session.get_bind()) as audited:
        record(audited, action=action,
               actor=principal.actor() if principal is not None else ANONYMOUS,
               outcome="denied", target_type=target_type, target_id=target_id,
               details={"code": code, "reason": reason[:300]})
