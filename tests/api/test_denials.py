"""Refusals of unauthenticated requests: audited one by one up to a rate per address, then
counted into one summary event; refusals of signed-in people always one by one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from spe.api import denials
from spe.audit.models import AuditEvent
from spe.domain.roles import Role
from spe.web import create_app
from testsupport.factories import auth


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_address_gets_its_budget_then_a_count():
    clock = Clock()
    budget = denials.DenialBudget(3, clock=clock)
    assert [budget.admit("10.0.0.1", "bad token")[0] for _ in range(5)] == \
        [True, True, True, False, False]
    assert budget.admit("10.0.0.2", "bad token") == (True, [])
    clock.now = 59.9
    assert budget.admit("10.0.0.1", "expired token") == (False, [])
    clock.now = 60.0
    admitted, ended = budget.admit("10.0.0.1", "bad token")  # a new minute
    assert admitted
    [count] = ended
    assert (count.client_addr, count.count, count.reason) == ("10.0.0.1", 3, "expired token")
    assert count.first <= count.last
    assert budget.take() == []


def test_a_flood_from_many_addresses_meets_the_total(monkeypatch):
    budget = denials.DenialBudget(2, clock=Clock())
    admitted = [budget.admit(f"10.0.1.{i}", "x")[0] for i in range(11) for _ in range(2)]
    assert admitted.count(True) == 20 and admitted[-2:] == [False, False]
    assert [(c.client_addr, c.count) for c in budget.take()] == [("10.0.1.10", 2)]
    monkeypatch.setattr(denials, "MAX_ADDRESSES", 2)
    budget = denials.DenialBudget(1, clock=Clock())
    for i in range(4):
        budget.admit(f"10.0.2.{i}", "x")
    assert [(c.client_addr, c.count) for c in budget.take()] == [("other", 1)]


def denied(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


def test_a_flood_of_bad_tokens_is_counted_and_summarised(settings, engine, tokens):
    limited = settings.model_copy(update={"audit_anonymous_denials_per_minute": 5})
    one_by_one = len(denied(engine, "access.denied"))
    summaries = len(denied(engine, "access.denied.suppressed"))
    with TestClient(create_app(limited, engine), raise_server_exceptions=False) as client:
        for i in range(12):
            response = client.get("/api/v1/me", headers=auth(f"spe_not-a-token-{i}"))
            assert response.status_code == 401
        for _ in range(8):  # a signed-in researcher, refused: each one is audited
            response = client.get("/api/v1/users", headers=auth(tokens[Role.researcher]))
            assert response.status_code == 403
        assert len(denied(engine, "access.denied")) == one_by_one + 5 + 8
        assert len(denied(engine, "access.denied.suppressed")) == summaries
    # the application stopped: the count is written
    [summary] = denied(engine, "access.denied.suppressed")[summaries:]
    assert summary.client_addr == "testclient" and summary.outcome == "denied"
    assert summary.details["count"] == 7
    assert summary.details["first"] <= summary.details["last"]
