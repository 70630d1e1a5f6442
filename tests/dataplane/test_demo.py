"""The demo data of `spe up`: complete, and loaded twice without duplicates."""

from __future__ import annotations

from sqlmodel import Session, select

from spe.auth.tokens import ApiToken, find_valid
from spe.dataplane.config import object_store
from spe.demo import USERS, load_demo
from spe.domain.datasets import Dataset
from spe.domain.permits import Permit, members_of
from spe.domain.projects import Project
from spe.domain.users import User


def test_the_demo_loads_once_and_reissues_tokens(engine, settings, demo):
    again = load_demo(engine, object_store(settings))

    assert again.project_id == demo.project_id
    assert set(again.tokens) == set(USERS)
    with Session(engine) as s:
        assert len(s.exec(select(User)).all()) == len(USERS)
        assert len(s.exec(select(Permit)).all()) == 1
        assert len(s.exec(select(Project)).all()) == 1
        for subject, (_, secret) in demo.tokens.items():
            assert find_valid(s, secret) is None, f"{subject}'s old token still works"
            assert find_valid(s, again.tokens[subject][1]) is not None
        live = s.exec(select(ApiToken).where(ApiToken.revoked_at.is_(None))).all()
        assert len(live) == len(USERS)
        permit = s.exec(select(Permit)).one()
        assert members_of(s, permit.id) == ["alice"] and permit.is_active()
        sources = [d.source_uri for d in s.exec(select(Dataset).order_by(Dataset.name))]
    assert sources == ["sources/snds-beneficiaries/synthetic-2025.parquet",
                       "sources/snds-care/synthetic-2025.parquet"]
    store = object_store(settings)
    assert [i.key for i in store.list("sources/")] == sources
