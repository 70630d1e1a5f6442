"""Per-permit budgets in the controller (its usage job, its change feed): the usage recorded
crosses the warning threshold, then the limit; each crossing is audited once and reaches the
workspace's spec (a notice, then new servers refused); raising the budget lifts the refusal."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from controllers.controller import Controller
from controllers.jobs import standard_jobs
from controllers.reconciler import Reconciler
from spe.audit import Actor
from spe.audit.models import AuditEvent
from spe.db import session_scope
from spe.domain import budgets
from spe.domain.usage import Sample
from tests.controllers.conftest import MemoryRuntime
from tests.controllers.test_reconciler import grant

PM = Actor.user("u-pm", "permit_manager")


class Meter:
    """Hands the loop the samples a test queues."""

    def __init__(self) -> None:
        self.queued: list[Sample] = []

    def sample(self) -> list[Sample]:
        samples, self.queued = self.queued, []
        return samples


def budget_actions(engine, project: str) -> list[tuple[str, dict]]:
    with Session(engine) as s:
        return [(e.action, e.details) for e in s.exec(
            select(AuditEvent).where(AuditEvent.project_id == project,
                                     AuditEvent.action.like("usage.budget.%"))
            .order_by(AuditEvent.seq))]


class Loop:
    """The controller's usage job and its queue, turned by hand: a sample, then the
    projects the change feed names (a budget set or crossed) reconciled."""

    def __init__(self, engine, settings, box, runtime, meter) -> None:
        self.reconciler = Reconciler(engine, runtime, settings, box)
        [self.job] = [j for j in standard_jobs(engine, settings, meter=meter)
                      if j.name == "usage sample"]
        self.controller = Controller(self.reconciler, [self.job])
        self.controller.feed.start()

    def turn(self) -> None:
        self.job.run_if_due(now=self.job.due)  # the sampling interval has passed
        self.controller.poll_changes()
        while (project_id := self.controller.queue.get(0)) is not None:
            self.controller.process(project_id)
            self.controller.queue.done(project_id)

    def run_once(self) -> None:
        self.reconciler.run_once()


@pytest.fixture
def world(engine, settings, box):
    runtime, meter = MemoryRuntime(), Meter()
    loop = Loop(engine, settings, box, runtime, meter)
    _, project = grant(engine)
    loop.run_once()
    return loop, runtime, meter, project


def tick(loop: Loop) -> None:
    loop.turn()


def test_a_budget_warns_then_refuses_new_servers_then_is_raised(engine, settings, world):
    reconciler, runtime, meter, project = world
    with session_scope(engine) as s:
        budgets.set_budget(s, project, budgets.BudgetSet(cpu_hours=1, warn_fraction=0.5,
                                                         reason="allocation 2027"), PM, settings)
    spec = lambda: runtime.hubs[project]["spec"]  # noqa: E731
    tick(reconciler)
    assert spec().spawn_refusal == "" and spec().notice == ""

    meter.queued = [Sample(project, "alice", cpu_seconds=2000)]  # 0.56 h of 1
    tick(reconciler)
    assert spec().spawn_refusal == "" and "over 50%" in spec().notice

    meter.queued = [Sample(project, "alice", cpu_seconds=1000),  # 0.83 h: still a warning
                    Sample(project, "", cpu_seconds=100)]
    tick(reconciler)
    meter.queued = [Sample(project, "alice", cpu_seconds=600)]  # 3700 s: spent
    tick(reconciler)
    assert "new servers are refused" in spec().spawn_refusal
    assert spec().notice == spec().spawn_refusal

    tick(reconciler)  # nothing new: nothing recorded twice
    events = budget_actions(engine, project)
    assert [a for a, _ in events] == ["usage.budget.set", "usage.budget.warning",
                                      "usage.budget.exhausted"]
    assert events[2][1]["cpu_hours"] == 1
    assert events[2][1]["fraction"] == pytest.approx(3700 / 3600, abs=1e-4)

    with session_scope(engine) as s:  # the permit manager raises it
        budget = budgets.set_budget(s, project, budgets.BudgetSet(cpu_hours=10,
                                                                  reason="extension"),
                                    PM, settings)
        assert budget.state == budgets.BudgetState.within
    reconciler.run_once()
    assert spec().spawn_refusal == "" and spec().notice == ""
    assert budget_actions(engine, project)[-1][1]["state"] == "within"


def test_gpu_hours_and_carbon_limits_count_too(engine, settings, world):
    reconciler, runtime, meter, project = world
    with session_scope(engine) as s:
        budgets.set_budget(s, project, budgets.BudgetSet(
            gpu_hours=2, carbon_g_co2e=1e9, reason="GPU allocation"), PM, settings)
    meter.queued = [Sample(project, "alice", gpu_seconds={"nvidia.com/gpu": 3600,
                                                         "nvidia.com/mig-1g.10gb": 3600})]
    tick(reconciler)
    assert runtime.hubs[project]["spec"].spawn_refusal
    with Session(engine) as s:
        status = budgets.report(s, project, settings).budget
    assert status.state == "exhausted"
    assert status.used["gpu_hours"] == pytest.approx(2.0)
    assert set(status.used) == {"gpu_hours", "carbon_g_co2e"}  # only the limits set


def test_a_budget_needs_a_limit_and_sane_bounds():
    with pytest.raises(ValueError, match="at least one limit"):
        budgets.BudgetSet(reason="none")
    for bad in ({"cpu_hours": 0}, {"cpu_hours": -1}, {"cpu_hours": 1, "warn_fraction": 1},
                {"gpu_hours": float("inf")}):
        with pytest.raises(ValueError):
            budgets.BudgetSet(reason="bad", **bad)
