"""Factories for domain objects: each returns what a test needs, with unique names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from spe.audit import Actor
from spe.auth.tokens import issue_token
from spe.db import session_scope
from spe.domain.datasets import DatasetCreate, Variable, create_dataset
from spe.domain.roles import Role
from spe.domain.users import UserCreate, create_user

TEST = Actor.system("tests")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_user(engine: Engine, *roles: Role, subject: str | None = None) -> tuple[str, str]:
    """A user holding ``roles`` and a bearer token for them: (subject, token)."""
    subject = subject or unique("user")
    with session_scope(engine) as session:
        user = create_user(session, UserCreate(subject=subject, roles=list(roles)), actor=TEST)
        _, secret = issue_token(session, ttl=timedelta(hours=1), actor=TEST, user_id=user.id,
                                mfa=True)
    return subject, secret


def make_dataset(engine: Engine, name: str | None = None) -> str:
    name = name or unique("ds")
    variables = [
        Variable(name="patient_id", type="string", classification="direct_identifier"),
        Variable(name="birth_year", type="integer", classification="quasi_identifier"),
        Variable(name="diagnosis", type="string", classification="sensitive"),
        Variable(name="cost", type="number", classification="other"),
    ]
    with session_scope(engine) as session:
        create_dataset(session, DatasetCreate(name=name, holder="CNAM",
                                              variables=variables), actor=TEST)
    return name


def permit_body(dataset: str, members: list[str], *, reference: str | None = None,
                days: int = 30, starts_in_days: int = -1) -> dict:
    start = datetime.now(UTC) + timedelta(days=starts_in_days)
    return {
        "reference": reference or unique("HDH").upper(),
        "issuer": "Health Data Hub",
        "purpose": "Study of care pathways",
        "project_title": "Care pathways",
        "principal_investigator": members[0],
        "members": members,
        "datasets": [{"dataset": dataset, "variables": ["patient_id", "diagnosis"]}],
        "valid_from": start.isoformat(),
        "valid_until": (start + timedelta(days=days)).isoformat(),
        "sdc_policy": "snds",
        "workspace_profile": "standard",
    }


def permit_issuer(folder, issuer: str, *, curve: str = "Ed25519", kid: str | None = None,
                  trusted: dict | None = None):
    """A data access body's signing key, and the trusted issuers file naming its public
    key (plus the public keys in ``trusted``: {issuer: [key, …]}); returns (key, file)."""
    import json

    from joserfc.jwk import ECKey, OKPKey

    kid = kid or unique("kid")
    key = (OKPKey.generate_key(curve, parameters={"kid": kid}) if curve == "Ed25519"
           else ECKey.generate_key(curve, parameters={"kid": kid}))
    issuers = {issuer: [key]} | (trusted or {})
    path = folder / f"{unique('issuers')}.json"
    path.write_text(json.dumps({name: {"keys": [k.as_dict(private=False) for k in keys]}
                                for name, keys in issuers.items()}))
    return key, path


def sign_decision(key, issuer: str, decision: str, reference: str, terms: dict | None = None,
                  *, jti: str | None = None, header: dict | None = None) -> str:
    """A permit decision as the access body would send it: a compact JWS."""
    import json

    from joserfc import jws

    from spe.domain.permit_decisions import ALGORITHMS, TYPE

    alg = "Ed25519" if key.key_type == "OKP" else "ES256"
    payload = {"iss": issuer, "jti": jti or unique("decision"), "iat": 1_790_000_000,
               "decision": decision, "reference": reference, "terms": terms or {}}
    return jws.serialize_compact({"alg": alg, "kid": key.kid, "typ": TYPE, **(header or {})},
                                 json.dumps(payload), key, algorithms=ALGORITHMS)
