"""The demo `spe up` loads: users with tokens, a synthetic SNDS-like dataset, one permit.

Idempotent: a second run on the same data directory creates nothing twice. Users, datasets,
sources and the permit are found by name and kept as they are (a demo permit someone has
since suspended stays suspended). Tokens cannot be shown again (only their hash is kept), so
each run **re-issues** every demo user's token and revokes the ones the previous run printed.

Who is who: ``admin``; ``pm`` (permit manager); ``steward`` (data steward); ``alice``
(researcher named in the demo permit); ``bob`` (researcher, not named: refused everywhere);
``checker1`` and ``checker2`` (output checkers, the two-person review); ``auditor``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from spe.audit import Actor
from spe.auth.tokens import ApiToken, issue_token, revoke_token
from spe.data import synth
from spe.data.sources import upload_source
from spe.db import session_scope
from spe.domain import permit_lifecycle
from spe.domain.datasets import Dataset, DatasetCreate, create_dataset
from spe.domain.permits import Permit, PermitCreate, PermittedDataset
from spe.domain.principal import Principal
from spe.domain.projects import project_of
from spe.domain.roles import Role
from spe.domain.users import UserCreate, create_user, find_by_subject
from spe.storage import ObjectStore

ACTOR = Actor.system("demo")
TOKEN_TTL = timedelta(days=7)
TOKEN_DESCRIPTION = "demo token (spe up)"  # noqa: S105 - a label, not a secret
PERMIT_REFERENCE = "DEMO-SNDS-2025-001"
USERS: dict[str, Role] = {
    "admin": Role.admin, "pm": Role.permit_manager, "steward": Role.data_steward,
    "alice": Role.researcher, "bob": Role.researcher, "checker1": Role.output_checker,
    "checker2": Role.output_checker, "auditor": Role.auditor,
}
ROWS = {"beneficiaries": 2_000, "care": 40_000}
DATASETS = {"beneficiaries": "snds-beneficiaries", "care": "snds-care"}
PERMITTED = {
    "beneficiaries": ["nir", "sex", "birth_year", "department"],
    "care": ["nir", "care_date", "act_code", "atc_code", "icd10", "cost_eur",
             "reimbursed_eur"],  # not the prescriber: minimisation at work
}
_TYPES = {"int8": "integer", "int16": "integer", "int32": "integer", "int64": "integer",
          "float64": "number", "date32": "date", "string": "string", "bool": "boolean"}


@dataclass(frozen=True)
class Demo:
    tokens: dict[str, tuple[Role, str]]  # subject -> (role, token secret)
    permit_reference: str
    project_id: str


def load_demo(engine: Engine, store: ObjectStore) -> Demo:
    tokens = {subject: (role, _user_token(engine, subject, role))
              for subject, role in USERS.items()}
    for table, name in DATASETS.items():
        _dataset(engine, store, table, name)
    return Demo(tokens, PERMIT_REFERENCE, _permit(engine))


def _user_token(engine: Engine, subject: str, role: Role) -> str:
    with session_scope(engine) as session:
        user = find_by_subject(session, subject)
        if user is None:
            user = create_user(session, UserCreate(subject=subject, roles=[role]), actor=ACTOR)
        previous = session.exec(select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.description == TOKEN_DESCRIPTION,
            ApiToken.revoked_at.is_(None))).all()
        for token in previous:
            revoke_token(session, token.id, actor=ACTOR)
        # issued by the operator running `spe up`, who vouches for the demo persons: mfa
        _, secret = issue_token(session, ttl=TOKEN_TTL, actor=ACTOR, user_id=user.id,
                                description=TOKEN_DESCRIPTION, mfa=True)
    return secret


def variables(table: str) -> list[dict]:
    """The synthetic table's catalogue entry in the catalogue's types."""
    return [{**v, "type": _TYPES[v["type"]]} for v in synth.CATALOGUE[table]]


def _dataset(engine: Engine, store: ObjectStore, table: str, name: str) -> None:
    with session_scope(engine) as session:
        dataset = session.get(Dataset, name)
        if dataset is None:
            dataset = create_dataset(session, DatasetCreate(
                name=name, holder="CNAM (synthetic)", variables=variables(table),
                description=f"Synthetic SNDS-like {table} table (spe.data.synth); nothing "
                "in it is real."), actor=ACTOR)
        if dataset.source_uri and store.exists(dataset.source_uri):
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{table}.parquet"
            synth.write(table, path, ROWS[table], seed=2025)
            with path.open("rb") as stream:
                source = _existing_or_upload(store, name, stream, variables(table))
        dataset.source_uri = source
        session.add(dataset)


def _existing_or_upload(store: ObjectStore, name: str, stream, catalogue: list[dict]) -> str:
    key = f"sources/{name}/synthetic-2025.parquet"
    if store.exists(key):
        return key
    return upload_source(store, name, "synthetic-2025.parquet", stream, catalogue,
                         "parquet").key


def _permit(engine: Engine) -> str:
    with session_scope(engine) as session:
        permit = session.exec(select(Permit).where(Permit.reference == PERMIT_REFERENCE)
                              ).first()
        if permit is None:
            pm = find_by_subject(session, "pm")
            now = datetime.now(UTC)
            permit = permit_lifecycle.create_permit(session, PermitCreate(
                reference=PERMIT_REFERENCE, issuer="Health Data Hub (demo)",
                purpose="Demo: care pathways of patients on statins, synthetic data.",
                project_title="Statins care pathways (demo)", principal_investigator="alice",
                members=["alice"], sdc_policy="snds", workspace_profile="standard",
                datasets=[PermittedDataset(dataset=DATASETS[t], variables=v)
                          for t, v in PERMITTED.items()],
                valid_from=now - timedelta(minutes=1), valid_until=now + timedelta(days=90)),
                Principal(user_id=pm.id, subject="pm", roles=frozenset({Role.permit_manager}),
                          via="system"))
        return project_of(session, permit.id).id
