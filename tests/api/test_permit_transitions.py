"""Any sequence of permit transitions and project halts, through the API, on both databases.

A hypothesis state machine applies amend, renew, suspend, resume, revoke and the kill switch
(``POST /projects/{id}/halt``) in any order to a few permits, and holds the API to the
transition table: a transition the table allows is applied (200), one it refuses answers
409, never a 500; every attempt, accepted or refused, leaves an audit event for its request;
the history numbers every change once. suspend → resume → halt used to answer 500.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from hypothesis.strategies import sampled_from
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.permit_lifecycle import TRANSITIONS
from spe.domain.permits import ACTIVE_STATUSES, PermitStatus
from spe.domain.roles import Role
from testsupport.factories import auth, make_dataset, permit_body

BODIES = {"amend": {"purpose": "changed purpose", "reason": "scope"},
          "suspend": {"reason": "incident"}, "resume": {}, "revoke": {"reason": "ended"},
          "halt": {"reason": "kill switch"}}


def test_any_sequence_of_transitions(client, engine, tokens):
    manager = auth(tokens[Role.permit_manager])
    dataset = make_dataset(engine)

    class Permits(RuleBasedStateMachine):
        permits = Bundle("permits")

        def __init__(self) -> None:
            super().__init__()
            self.status: dict[str, PermitStatus] = {}
            self.before: dict[str, PermitStatus] = {}
            self.valid_until: dict[str, datetime] = {}
            self.changes: dict[str, int] = {}

        def call(self, path: str, body: dict) -> tuple[int, dict]:
            rid = f"sm-{uuid.uuid4().hex}"
            response = client.post(path, json=body, headers=manager | {"X-Request-ID": rid})
            assert response.status_code < 500, (path, response.text)
            with Session(engine) as s:
                outcomes = s.exec(select(AuditEvent.outcome)
                                  .where(AuditEvent.request_id == rid)).all()
            expected = "success" if response.status_code < 400 else "denied"
            assert expected in outcomes, (path, response.status_code, outcomes)
            return response.status_code, response.json()

        @rule(target=permits)
        def create(self):
            status, permit = self.call("/api/v1/permits", permit_body(dataset, ["alice"]))
            assert status == 201, permit
            pid = permit["id"]
            self.status[pid] = PermitStatus.granted
            self.valid_until[pid] = datetime.fromisoformat(permit["valid_until"])
            self.changes[pid] = 1
            return (pid, permit["project_id"])

        @rule(permit=permits, name=sampled_from(["amend", "renew", "suspend", "resume",
                                                  "revoke", "halt"]))
        def transition(self, permit, name):
            pid, project = permit
            current = self.status[pid]
            if name == "halt":
                path = f"/api/v1/projects/{project}/halt"
                allowed = current in TRANSITIONS["suspend"].sources
            else:
                path = f"/api/v1/permits/{pid}/{name}"
                allowed = current in TRANSITIONS[name].sources
            body = BODIES.get(name)
            if name == "renew":
                self.valid_until[pid] += timedelta(days=30) if allowed else timedelta()
                body = {"valid_until": self.valid_until[pid].isoformat()}
            status, answer = self.call(path, body)
            assert status == (200 if allowed else 409), (name, current, answer)
            if not allowed:
                return
            self.changes[pid] += 1
            if name in ("suspend", "halt"):
                self.before[pid] = current
                self.status[pid] = PermitStatus.suspended
            elif name == "resume":
                self.status[pid] = self.before.pop(pid)
            else:
                self.status[pid] = TRANSITIONS[name].target
            read = client.get(f"/api/v1/permits/{pid}", headers=manager).json()
            assert read["status"] == self.status[pid].value
            assert read["active"] == (self.status[pid] in ACTIVE_STATUSES)

        @invariant()
        def history_numbers_every_change_once(self):
            for pid, count in self.changes.items():
                response = client.get(f"/api/v1/permits/{pid}/history?limit=100",
                                      headers=manager)
                assert [r["seq"] for r in response.json()["items"]] == \
                    list(range(1, count + 1))

    run_state_machine_as_test(Permits, settings=settings(
        max_examples=12, stateful_step_count=12, deadline=None,
        suppress_health_check=list(HealthCheck)))


def test_suspend_resume_halt(client, engine, tokens):
    """The reported sequence, kept as a plain example."""
    manager = auth(tokens[Role.permit_manager])
    permit = client.post("/api/v1/permits", headers=manager,
                         json=permit_body(make_dataset(engine), ["alice"])).json()
    for path, body in [(f"permits/{permit['id']}/suspend", {"reason": "a"}),
                       (f"permits/{permit['id']}/resume", {}),
                       (f"projects/{permit['project_id']}/halt", {"reason": "b"}),
                       (f"permits/{permit['id']}/resume", {}),
                       (f"permits/{permit['id']}/suspend", {"reason": "c"})]:
        response = client.post(f"/api/v1/{path}", json=body, headers=manager)
        assert response.status_code == 200, (path, response.text)
    read = client.get(f"/api/v1/permits/{permit['id']}", headers=manager).json()
    assert read["status"] == "suspended" and not read["active"]
