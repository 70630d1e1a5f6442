"""A state change and its audit event commit together, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.permits import Permit
from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, permit_body


class Boom(Exception):
    pass


def count_events(engine, action: str) -> int:
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent.seq).where(AuditEvent.action == action)).all())


def test_failed_commit_leaves_neither_change_nor_event(client, engine, tokens):
    dataset = make_dataset(engine)
    body = permit_body(dataset, ["alice"])
    before = count_events(engine, "permit.create")

    def fail(session):
        raise Boom("commit refused")

    event.listen(OrmSession, "before_commit", fail)
    try:
        response = client.post("/api/v1/permits", json=body,
                               headers=auth(tokens[Role.permit_manager]))
    finally:
        event.remove(OrmSession, "before_commit", fail)
    assert response.status_code == 500
    with Session(engine) as s:
        assert s.exec(select(Permit).where(Permit.reference == body["reference"])).first() \
            is None
    assert count_events(engine, "permit.create") == before


def test_failed_audit_rolls_back_the_change(client, engine, tokens, monkeypatch):
    dataset = make_dataset(engine)
    body = permit_body(dataset, ["alice"])
    manager = auth(tokens[Role.permit_manager])
    permit = client.post("/api/v1/permits", json=body, headers=manager).json()

    import spe.domain.statemachine as statemachine  # a transition's audit event is its apply's

    def broken_record(*args, **kwargs):
        raise Boom("audit store unavailable")

    monkeypatch.setattr(statemachine, "record", broken_record)
    response = client.post(f"/api/v1/permits/{permit['id']}/suspend", headers=manager,
                           json={"reason": "incident"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    monkeypatch.undo()
    current = client.get(f"/api/v1/permits/{permit['id']}", headers=manager).json()
    assert current["status"] == "granted"


@pytest.mark.parametrize("action", ["access.denied"])
def test_denied_requests_are_audited(client, engine, tokens, action):
    before = count_events(engine, action)
    response = client.post("/api/v1/permits", json={},
                           headers=auth(tokens[Role.researcher]))
    assert response.status_code == 403
    assert count_events(engine, action) == before + 1
