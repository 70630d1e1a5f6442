"""Dependencies every route uses: the database session and its access declaration.

Each route declares who may call it with exactly one of :func:`allow` (these roles),
:func:`allow_authenticated` (any signed-in person), :func:`allow_component` (a platform
component such as a project hub) or :func:`allow_anyone` (health probes). Anything else is
denied; ``tests/api/test_route_roles.py`` walks every route and checks the declarations.
A refusal is audited in its own transaction, so it is kept even though the request fails;
refusals of unauthenticated requests are counted past a rate (:mod:`spe.api.denials`). A
route that changes state runs its work through :func:`spe.api.changes.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from spe.api import denials
from spe.audit import Actor, record
from spe.auth.authenticate import authenticate
from spe.auth.sessions import session_cookie
from spe.db import UNAVAILABLE, session_scope
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.errors import Conflict, Forbidden, SpeError
from spe.messages import Message


def get_session(request: Request) -> Iterator[Session]:
    session = Session(request.app.state.engine, expire_on_commit=False)
    try:
        yield session
    finally:
        # a connection that died after the work: the server rolled back whatever was not
        # committed and the pool replaces it; not an error of this (answered) request
        with suppress(UNAVAILABLE):
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def commit(session: Session) -> None:
    """Commit the operation; a constraint violation is a conflict, not a server error."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(Message("the change conflicts with existing data"),
                       code="conflict.integrity") from exc


def audit_denied(request: Request, actor: Actor, reason: str) -> None:
    with session_scope(request.app.state.engine) as session:
        record(session, action="access.denied", actor=actor, outcome="denied",
               target_type="route", target_id=f"{request.method} {_route_path(request)}",
               details={"reason": reason})


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", request.url.path)


def _authenticate_or_audit(request: Request, session: Session) -> Principal:
    try:
        return authenticate(request, session)
    except SpeError as exc:
        client = request.client.host if request.client else None
        one_by_one, ended = request.app.state.denials.admit(client, exc.message)
        denials.write(request.app.state.engine, ended)
        if one_by_one:
            audit_denied(request, denials.ANONYMOUS, exc.message)
        raise


def _guard(access: tuple, refuse: Callable[[Principal], Message | None],
           then: Callable[[Principal], Principal] = lambda p: p):
    def dependency(request: Request, session: SessionDep) -> Principal:
        principal = _authenticate_or_audit(request, session)
        reason = refuse(principal)
        if reason:
            audit_denied(request, principal.actor(), reason)
            raise Forbidden(reason, code="auth.forbidden")
        return then(principal)

    dependency.access = access
    return Depends(dependency)


def allow(*roles: Role, project_scoped: bool = False):
    """Callers holding one of ``roles``; project-scoped tokens only if ``project_scoped``."""
    allowed = frozenset(roles)

    def refuse(principal: Principal) -> Message | None:
        if principal.component is not None:
            return Message("platform components may not call this route")
        if not principal.has_any(allowed):
            return Message("needs one of the roles {roles}",
                           roles=", ".join(sorted(r.value for r in allowed)))
        if principal.project_id is not None and not project_scoped:
            return Message("a project-scoped token may not call this route")
        return None

    return _guard(("roles", allowed, project_scoped), refuse,
                  lambda p: p.acting_as(allowed))


def allow_authenticated():
    """Any signed-in person, whatever their roles (their own profile and tokens)."""

    def refuse(principal: Principal) -> Message | None:
        if principal.user_id is None:
            return Message("only a person may call this route")
        if principal.project_id is not None:
            return Message("a project-scoped token may not call this route")
        return None

    return _guard(("authenticated", frozenset(), False), refuse)


def allow_component(*components: str):
    """A platform component's service token (e.g. ``hub``, ``storage``)."""
    names = frozenset(components)

    def refuse(principal: Principal) -> Message | None:
        if principal.component not in names:
            return Message("only the components {components} may call this route",
                           components=", ".join(sorted(names)))
        return None

    return _guard(("components", names, True), refuse)


def allow_anyone():
    """No credentials needed (liveness and readiness probes, the public key)."""

    def dependency() -> None:
        return None

    dependency.access = ("anyone", frozenset(), False)
    return Depends(dependency)


def allow_browser():
    """A browser with or without a session: the route itself decides (e.g. redirect to
    sign-in, or refuse). Yields the session's principal or ``None``."""

    def dependency(request: Request, session: SessionDep) -> Principal | None:
        return session_cookie(request, session)

    dependency.access = ("browser", frozenset(), False)
    return Depends(dependency)


def allow_protocol(name: str):
    """The route authenticates its caller by a protocol of its own (``name`` says which,
    e.g. OAuth2 client authentication at the token endpoint)."""

    def dependency() -> None:
        return None

    dependency.access = ("protocol", frozenset({name}), False)
    return Depends(dependency)


def wake_reconciler(request: Request) -> None:
    """Wake the in-process controller (the embedded server) to read the change just
    committed and reconcile its project now; a separate ``spe controller`` reads it within
    ``SPE_RECONCILE_INTERVAL_SECONDS`` (controllers/changes.py: the audit log's ``permit.*``
    events are the change feed)."""
    wake = getattr(request.app.state, "reconcile_wake", None)
    if wake is not None:
        wake.set()
