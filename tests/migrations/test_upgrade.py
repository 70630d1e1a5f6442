"""An upgrade from the first migration to the latest, one revision at a time, on a PostgreSQL
database populated along the way: nothing written before a migration is lost by it, the
audit log written under an older schema still verifies, and the application works at head.
(tests/migrations/test_migrations.py checks that head equals the models.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlmodel import Session

from spe.audit import Actor
from spe.audit.log import record
from spe.audit.signer import create_checkpoint
from spe.audit.verify import verify_database
from spe.crypto.signing import SigningKey
from spe.db import make_engine
from spe.domain.datasets import Dataset
from spe.domain.roles import Role
from spe.domain.users import RoleGrant, User
from spe.migrations import alembic_config, pending_migrations, upgrade
from testsupport.factories import make_dataset, make_user

pytestmark = pytest.mark.postgres


def revisions(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def counts(engine, tables: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one()  # noqa: S608
                for t in tables}


def test_first_to_latest_on_a_populated_database(postgres_server, tmp_path):
    url = postgres_server.url(postgres_server.create_database("upgrade"))
    engine = make_engine(url)
    steps = revisions(url)
    assert len(steps) >= 2 and steps[0].startswith("0001")
    signer = SigningKey.load_or_create(tmp_path / "audit.pem")

    # The first schema, populated through the models of its tables (unchanged since).
    upgrade(engine, steps[0])
    with Session(engine) as s:
        user = User(subject="early-admin", email="early@hospital.internal")
        s.add(user)
        s.flush()
        s.add(RoleGrant(user_id=user.id, role=Role.admin))
        s.add(Dataset(name="early_dataset", holder="CNAM",
                      variables=[{"name": "age", "type": "int"}]))
        s.commit()
    seen = counts(engine, ["users", "role_grants", "datasets"])

    audited = 0
    for revision in steps[1:]:
        upgrade(engine, revision)
        tables = set(inspect(engine).get_table_names())
        now = counts(engine, list(seen))
        assert now == seen, f"{revision} changed {seen} into {now}"
        if "audit_event" in tables:  # from then on, every step adds to the log
            with Session(engine) as s:
                for i in range(3):
                    record(s, action="upgrade.step", actor=Actor.system("tests"),
                           details={"revision": revision, "i": i})
                s.commit()  # events join the log at commit
                create_checkpoint(s, signer)
                s.commit()
            audited += 3
            seen = counts(engine, [*seen, "audit_event", "audit_checkpoint"])

    assert pending_migrations(engine) == []
    assert audited >= 3
    with Session(engine) as s:
        report = verify_database(s, signer.public_key, datetime.now(UTC) - timedelta(days=366),
                                 compiled=False)
        assert report.size == audited and report.checkpoints == len(steps) - 1
        early = s.scalars(select(User).where(User.subject == "early-admin")).one()
        assert early.email == "early@hospital.internal"
        assert s.scalar(select(func.count()).select_from(Dataset)) == 1
    # and the application writes at head next to what the first schema held
    make_user(engine, Role.data_steward)
    make_dataset(engine)
    engine.dispose()
