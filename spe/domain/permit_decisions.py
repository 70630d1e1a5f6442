"""Signed permit decisions: a data access body's decision on a permit (grant, amend, renew,
suspend, resume, revoke) delivered as a JWS signed with one of its keys (DESIGN.md).

The trusted issuers file (``SPE_PERMIT_ISSUERS_FILE``) maps each issuer to its public keys
as a JWKS, ``{"<issuer>": {"keys": [<JWK>, …]}}``; it is read at each decision, so adding or
retiring a key needs no restart. A decision is applied only if

- it is a compact JWS typed ``spe-permit+jws`` whose ``kid`` names a key of the file and
  whose signature verifies with that key (an unsigned document, ``alg: none``, an unknown
  key or a payload changed after signing are refused);
- its ``iss`` is the issuer that key belongs to, and, for a decision on an existing permit,
  the issuer of that permit (an issuer decides on its own permits only);
- its ``jti`` was never applied for that issuer (a replay is refused);
- the permit state machine allows it (:mod:`spe.domain.permit_lifecycle`, the same checks
  as the API's unsigned routes).

The compact JWS is kept (``permit_decisions``), so anyone with the issuer's public key can
check later what was decided, and by whom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, select

from spe.audit import record
from spe.db.types import UTCDateTime, utcnow
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import (
    Permit,
    PermitAmend,
    PermitCreate,
    PermitReason,
    PermitRenew,
    PermitResume,
    Reference,
    get_permit,
)
from spe.domain.principal import Principal
from spe.domain.projects import project_of
from spe.errors import Conflict, Forbidden, InvalidInput, Misconfigured
from spe.messages import Message

TYPE = "spe-permit+jws"
ALGORITHMS = ["Ed25519", "EdDSA", "ES256", "ES384", "RS256", "PS256"]
MAX_TOKEN = 64 * 1024
Decision = Literal["grant", "amend", "renew", "suspend", "resume", "revoke"]
TERMS = {"grant": PermitCreate, "amend": PermitAmend, "renew": PermitRenew,
         "suspend": PermitReason, "resume": PermitResume, "revoke": PermitReason}


class PermitDecision(SQLModel, table=True):
    """A signed decision, as received and applied."""

    __tablename__ = "permit_decisions"
    __table_args__ = (UniqueConstraint("issuer", "jti"),)

    id: int | None = SQLField(default=None, primary_key=True)
    issuer: str = SQLField(max_length=200)
    jti: str = SQLField(max_length=200)
    kid: str = SQLField(max_length=200)
    decision: str = SQLField(max_length=16)
    permit_id: str = SQLField(foreign_key="permits.id", index=True, max_length=32)
    permit_version: int
    issued_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = SQLField(default_factory=utcnow,
                                     sa_column=Column(UTCDateTime(), nullable=False))
    received_by: str | None = SQLField(default=None, max_length=64)
    token: str = SQLField(sa_column=Column(Text, nullable=False))


class PermitDecisionPublic(SQLModel):
    issuer: str
    jti: str
    kid: str
    decision: str
    permit_version: int
    issued_at: datetime
    received_at: datetime
    received_by: str | None
    token: str = Field(description="The compact JWS as received: verify it with the "
                       "issuer's public key.")


class SignedDecision(BaseModel):
    """The payload: who decided (``iss``), the decision's unique id (``jti``), when
    (``iat``, seconds since the epoch), what, on which permit, and its terms (the body the
    API's matching unsigned route takes; for a grant, without ``reference`` and
    ``issuer``)."""

    model_config = ConfigDict(extra="forbid")

    iss: str = Field(min_length=1, max_length=200)
    jti: str = Field(min_length=1, max_length=200)
    iat: int = Field(ge=0, le=32_503_680_000)  # up to the year 3000
    decision: Decision
    reference: Reference
    terms: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Verified:
    kid: str
    token: str
    payload: SignedDecision
    terms: BaseModel


@dataclass(frozen=True)
class TrustedIssuers:
    """Each trusted issuer's public keys, and which issuer each key id belongs to."""

    keys: dict[str, tuple[str, Any]]  # kid -> (issuer, key)

    @classmethod
    def load(cls, path: Path | None) -> TrustedIssuers:
        if path is None:
            raise Forbidden(Message("this deployment trusts no permit issuer "
                                    "(SPE_PERMIT_ISSUERS_FILE is not set)"),
                            code="permit.untrusted_issuer")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(document, dict):
                raise ValueError(Message("it must be a JSON object {{issuer: JWKS}}"))
            keys: dict[str, tuple[str, Any]] = {}
            for issuer, jwks in document.items():
                if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                    raise ValueError(Message("{issuer}: a JWKS {{\"keys\": [...]}} is "
                                             "expected", issuer=issuer))
                for key in KeySet.import_key_set(jwks).keys:
                    kid = key.kid
                    if not kid or kid in keys:
                        raise ValueError(Message("every key needs a kid of its own ({kid!r})",
                                                 kid=kid))
                    if key.is_private:
                        raise ValueError(Message("key {kid} of {issuer} is a private key",
                                                 kid=kid, issuer=issuer))
                    keys[kid] = (issuer, key)
        except (OSError, ValueError, TypeError, JoseError) as exc:
            raise Misconfigured(Message("the trusted permit issuers file {path} cannot be "
                                        "used: {exc}", path=path, exc=exc),
                                code="permit.issuers_file") from exc
        return cls(keys)


def verify(token: str, issuers: TrustedIssuers) -> Verified:
    """The decision in ``token`` if it is signed by a trusted issuer's key; raises
    :class:`InvalidInput` (malformed, bad signature, bad terms) or :class:`Forbidden`
    (untrusted key, another issuer's key) otherwise. Nothing is applied."""
    token = token.strip()
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        raise InvalidInput(Message("not a compact JWS (three dot-separated parts): a permit "
                                   "decision must be signed"), code="permit.unsigned")
    try:
        header = jws.extract_compact(token.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise InvalidInput(Message("not a compact JWS: {exc}", exc=exc),
                           code="permit.unsigned") from exc
    if header.get("typ") != TYPE:
        raise InvalidInput(Message("the JWS header must say typ {TYPE!r}", TYPE=TYPE),
                           code="permit.unsigned")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in issuers.keys:
        raise Forbidden(Message("the decision is signed with a key this deployment does not "
                                "trust (kid {kid!r})", kid=str(kid)[:100]),
                        code="permit.untrusted_issuer")
    issuer, key = issuers.keys[kid]
    try:
        payload = jws.deserialize_compact(token, key, algorithms=ALGORITHMS).payload
    except JoseError as exc:
        raise InvalidInput(Message("the decision's signature does not verify with key {kid} "
                                   "of {issuer}: {error}", kid=kid, issuer=issuer,
                                   error=exc.error), code="permit.bad_signature") from exc
    try:
        decision = SignedDecision.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidInput(Message("the signed decision is not a permit decision: {problems}",
                                   problems=_problems(exc)),
                           code="permit.bad_decision") from exc
    if decision.iss != issuer:
        raise Forbidden(Message("the decision says it is from {iss!r} but is signed with key "
                                "{kid} of {issuer!r}", iss=decision.iss[:200], kid=kid,
                                issuer=issuer), code="permit.untrusted_issuer")
    terms = dict(decision.terms)
    if decision.decision == "grant":
        terms |= {"reference": decision.reference, "issuer": decision.iss}
    try:
        parsed = TERMS[decision.decision].model_validate(terms)
    except ValidationError as exc:
        raise InvalidInput(Message("the terms of the {decision} decision are invalid: {problems}",
                                   decision=decision.decision, problems=_problems(exc)),
                           code="permit.bad_decision") from exc
    return Verified(kid, token, decision, parsed)


def _problems(exc: ValidationError) -> str:
    """Where and what, never the values (which may be personal data)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
                     for e in exc.errors(include_input=False, include_url=False))


def apply(session: Session, verified: Verified, principal: Principal) -> Permit:
    """Apply a verified decision through the permit state machine, keep it, and audit it,
    in the caller's transaction."""
    decision = verified.payload
    if session.exec(select(PermitDecision.id).where(
            PermitDecision.issuer == decision.iss, PermitDecision.jti == decision.jti)).first():
        raise Conflict(Message("decision {jti!r} of {iss} was already applied",
                               jti=decision.jti[:200], iss=decision.iss), code="permit.replayed")
    if decision.decision == "grant":
        permit = lifecycle.create_permit(session, verified.terms, principal)
    else:
        permit = get_permit(session, decision.reference)
        if permit.issuer != decision.iss:
            raise Forbidden(Message("permit {reference} was issued by {issuer!r}, not {iss!r}",
                                    reference=permit.reference, issuer=permit.issuer,
                                    iss=decision.iss), code="permit.forbidden")
        permit = _change(session, permit.id, decision.decision, verified.terms, principal)
    session.add(PermitDecision(
        issuer=decision.iss, jti=decision.jti, kid=verified.kid, decision=decision.decision,
        permit_id=permit.id, permit_version=permit.version,
        issued_at=datetime.fromtimestamp(decision.iat, tz=UTC),
        received_by=principal.user_id, token=verified.token))
    project = project_of(session, permit.id)
    record(session, action="permit.decision.apply", actor=principal.actor(),
           target_type="permit", target_id=permit.id,
           project_id=project.id if project else None,
           details={"reference": permit.reference, "decision": decision.decision,
                    "issuer": decision.iss, "kid": verified.kid, "jti": decision.jti})
    return permit


def _change(session: Session, permit_id: str, name: str, terms: Any,
            principal: Principal) -> Permit:
    if name == "amend":
        return lifecycle.amend_permit(session, permit_id, terms, principal)
    if name == "renew":
        return lifecycle.renew_permit(session, permit_id, terms, principal)
    change = {"suspend": lifecycle.suspend_permit, "resume": lifecycle.resume_permit,
              "revoke": lifecycle.revoke_permit}[name]
    return change(session, permit_id, terms.reason, principal)


def decisions_of(permit_id: str):
    """The query of a permit's decisions, oldest first."""
    return select(PermitDecision).where(PermitDecision.permit_id == permit_id) \
        .order_by(PermitDecision.id)

