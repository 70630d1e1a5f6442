"""The principal: who is acting, with which roles, through which credential.

Every authenticator (personal API token, browser session, the identity provider's access
token, a hub's service token) produces one of these; routes and state machines only ever
look at a principal, so they do not care how the caller proved who they are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from spe.audit import Actor
from spe.domain.roles import Role

__all__ = ["Principal", "Role"]


@dataclass(frozen=True)
class Principal:
    user_id: str | None
    subject: str
    roles: frozenset[Role]
    via: str  # "token", "session", "oidc", "component", "system"
    mfa: bool = False
    component: str | None = None  # "hub", "storage" for service principals
    project_id: str | None = None  # a credential scoped to one project
    acting_role: Role | None = None  # the role under which the current action is allowed

    def has_any(self, roles: frozenset[Role] | set[Role]) -> bool:
        return bool(self.roles & frozenset(roles))

    def acting_as(self, allowed: frozenset[Role]) -> Principal:
        """This principal, recording which of its roles authorises the action."""
        for role in Role:  # declaration order: the most powerful role first
            if role in self.roles and role in allowed:
                return replace(self, acting_role=role)
        return self

    def actor(self) -> Actor:
        if self.component is not None:
            name = self.component if self.project_id is None else \
                f"{self.component}:{self.project_id}"
            return Actor.component(name)
        if self.user_id is None:
            return Actor.system(self.subject)
        role = self.acting_role.value if self.acting_role else None
        return Actor.user(self.user_id, role)

    @classmethod
    def system(cls, name: str) -> Principal:
        """A platform component acting on its own (reconciler, scheduler, CLI bootstrap)."""
        return cls(user_id=None, subject=f"system:{name}", roles=frozenset(), via="system")
