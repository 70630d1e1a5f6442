"""Who the provider says a person is, and whether they logged in with a second factor.

Roles come only from the configured group mapping: a group nobody mapped gives nothing, and
no claim of the provider can name an spe role directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spe.auth.oidc.config import OidcConfig
from spe.auth.oidc.errors import MfaRequired, TokenRejected
from spe.domain.roles import Role
from spe.messages import Message


@dataclass(frozen=True)
class Identity:
    subject: str
    issuer: str
    name: str | None
    email: str | None
    groups: frozenset[str]
    roles: frozenset[Role]
    acr: str | None
    amr: frozenset[str]
    mfa_satisfied: bool


def roles_for(groups: frozenset[str], config: OidcConfig) -> frozenset[Role]:
    return frozenset(role for group in groups for role in config.role_mapping.get(group, ()))


def mfa_satisfied(acr: str | None, amr: frozenset[str], config: OidcConfig) -> bool:
    return (acr is not None and acr in config.mfa_acr_values) or \
        bool(amr & frozenset(config.mfa_amr_methods))


def identity_from_claims(claims: Mapping[str, Any], config: OidcConfig,
                         userinfo: Mapping[str, Any] | None = None) -> Identity:
    """An :class:`Identity` from validated token claims, completed by ``userinfo``.

    Userinfo only fills profile claims the token lacks; it can never change the subject,
    and ``acr``/``amr`` are taken from the token alone (they describe that login).
    """
    if userinfo is not None and userinfo.get("sub") != claims["sub"]:
        raise TokenRejected(Message("userinfo subject differs from the token's"))
    merged = {**(userinfo or {}), **claims}
    acr = claims.get("acr") if isinstance(claims.get("acr"), str) else None
    amr = _strings(claims.get("amr"), "amr")
    groups = _strings(merged.get(config.groups_claim), config.groups_claim)
    return Identity(
        subject=claims["sub"],
        issuer=claims["iss"],
        name=_display_name(merged),
        email=_optional_string(merged.get("email")),
        groups=groups,
        roles=roles_for(groups, config),
        acr=acr,
        amr=amr,
        mfa_satisfied=mfa_satisfied(acr, amr, config),
    )


def require_mfa(identity: Identity, config: OidcConfig) -> Identity:
    """The identity, or :class:`MfaRequired` when MFA is required and was not shown."""
    if config.require_mfa and not identity.mfa_satisfied:
        wanted = [f"acr in {config.mfa_acr_values}"] if config.mfa_acr_values else []
        if config.mfa_amr_methods:
            wanted.append(f"amr including one of {config.mfa_amr_methods}")
        shown = f"acr={identity.acr or 'none'}, amr={sorted(identity.amr) or 'none'}"
        raise MfaRequired(Message("log in with a second factor ({wanted}; this login has "
                                  "{shown})", wanted=' or '.join(wanted), shown=shown))
    return identity


def _strings(value: Any, claim: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise TokenRejected(Message("claim {claim} is not a list of strings", claim=claim))


def _display_name(claims: Mapping[str, Any]) -> str | None:
    """``name``, else given and family names (ProConnect's family name is ``usual_name``)."""
    if isinstance(claims.get("name"), str):
        return claims["name"]
    family = claims.get("family_name") or claims.get("usual_name")
    parts = [p for p in (claims.get("given_name"), family) if isinstance(p, str) and p]
    return " ".join(parts) or None


def _optional_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None
