"""Per-permit budgets: limits on what a project's workspace may use, which warn, then stop
new servers.

A project is its permit's workspace (one per permit), so the permit's budget is kept on its
project. A permit manager sets it (CPU-hours, GPU-hours, grams of CO2e: any of the three)
with a warning threshold. The project's whole usage (:mod:`spe.domain.usage`, every member
and the project itself since the project began) is compared with each limit:

* ``within``: below the warning threshold of every limit;
* ``warning``: at or past the threshold of one limit: the workspace's pages say so;
* ``exhausted``: at or past one limit: the workspace refuses new servers (running ones go on,
  and their use keeps counting) until the budget is raised or removed.

The state is stored with the budget and changes only together with its audit event
(``usage.budget.warning``, ``usage.budget.exhausted``, ``usage.budget.within``), so each
crossing is recorded once. The reconciler reads the stored state into the workspace's spec.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import StrictFloat, model_validator
from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from spe.audit import Actor, record
from spe.db.types import UTCDateTime, utcnow
from spe.domain.usage import UsageReport, usage_report
from spe.errors import NotFound
from spe.messages import Message
from spe.settings import Settings

LIMITS = ("cpu_hours", "gpu_hours", "carbon_g_co2e")
MAX_LIMIT = 1e12


class BudgetState(StrEnum):
    within = "within"
    warning = "warning"
    exhausted = "exhausted"


class BudgetLimits(SQLModel):
    # strict: "1.5" or true is not a number of hours (a JSON integer is)
    cpu_hours: StrictFloat | None = Field(default=None, gt=0, le=MAX_LIMIT,
                                          description="CPU core-hours for the whole project")
    gpu_hours: StrictFloat | None = Field(default=None, gt=0, le=MAX_LIMIT,
                                          description="GPU-hours, every GPU resource summed")
    carbon_g_co2e: StrictFloat | None = Field(default=None, gt=0, le=MAX_LIMIT,
                                              description="estimated carbon (docs/usage.md)")
    warn_fraction: StrictFloat = Field(default=0.8, gt=0, lt=1, description="warn once "
                                       "this fraction of any limit is used")


class BudgetSet(BudgetLimits):
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetSet:
        if all(getattr(self, name) is None for name in LIMITS):
            raise ValueError(Message("a budget needs at least one limit ({LIMITS})",
                                     LIMITS=', '.join(LIMITS)))
        return self


class ProjectBudget(SQLModel, table=True):
    __tablename__ = "project_budgets"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, max_length=20)
    cpu_hours: float | None = None
    gpu_hours: float | None = None
    carbon_g_co2e: float | None = None
    warn_fraction: float = 0.8
    state: str = Field(default=BudgetState.within, max_length=20)  # a BudgetState
    set_by: str | None = Field(default=None, max_length=64)
    set_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                       nullable=False))
    state_changed_at: datetime = Field(default_factory=utcnow, sa_column=Column(
        UTCDateTime(), nullable=False))


class BudgetStatus(BudgetLimits):
    """A budget as the usage report and the console show it."""

    state: BudgetState
    used: dict[str, float]  # per limit set: how much is used, in the limit's unit
    fraction: float  # the largest used/limit
    state_changed_at: datetime


def _used(session: Session, project_id: str, settings: Settings) -> dict[str, float]:
    return used_of(usage_report(session, project_id, settings))


def used_of(usage: UsageReport) -> dict[str, float]:
    return {name: getattr(usage.total, name) for name in LIMITS}


def evaluate(budget: ProjectBudget, used: dict[str, float]) -> tuple[BudgetState, float]:
    """The state ``used`` puts the budget in, and the largest fraction of a limit used."""
    fraction = max(used[name] / getattr(budget, name) for name in LIMITS
                   if getattr(budget, name) is not None)
    if fraction >= 1:
        return BudgetState.exhausted, fraction
    return (BudgetState.warning if fraction >= budget.warn_fraction
            else BudgetState.within), fraction


class UsageAndBudget(UsageReport):
    budget: BudgetStatus | None


def report(session: Session, project_id: str, settings: Settings) -> UsageAndBudget:
    """The project's usage report with its budget, if it has one."""
    usage = usage_report(session, project_id, settings)
    budget = session.get(ProjectBudget, project_id)
    return UsageAndBudget(**dict(usage), budget=None if budget is None
                          else _status(budget, used_of(usage)))


def _status(budget: ProjectBudget, used: dict[str, float]) -> BudgetStatus:
    _state, fraction = evaluate(budget, used)
    return BudgetStatus(**budget.model_dump(include=set(LIMITS) | {"warn_fraction"}),
                        state=BudgetState(budget.state), fraction=fraction,
                        state_changed_at=budget.state_changed_at,
                        used={n: used[n] for n in LIMITS if getattr(budget, n) is not None})


def _details(budget: ProjectBudget, fraction: float) -> dict:
    return {**budget.model_dump(include=set(LIMITS) | {"warn_fraction"}, exclude_none=True),
            "state": str(budget.state), "fraction": round(fraction, 4)}


def set_budget(session: Session, project_id: str, body: BudgetSet, actor: Actor,
               settings: Settings) -> ProjectBudget:
    """Set (or replace) the project's budget, its state evaluated at once."""
    budget = session.get(ProjectBudget, project_id) or ProjectBudget(project_id=project_id)
    for name in (*LIMITS, "warn_fraction"):
        setattr(budget, name, getattr(body, name))
    state, fraction = evaluate(budget, _used(session, project_id, settings))
    if state != budget.state:
        budget.state, budget.state_changed_at = state, utcnow()
    budget.set_by, budget.set_at = actor.id, utcnow()
    session.add(budget)
    record(session, action="usage.budget.set", actor=actor, target_type="project",
           target_id=project_id, project_id=project_id,
           details={**_details(budget, fraction), "reason": body.reason})
    return budget


def remove_budget(session: Session, project_id: str, actor: Actor) -> None:
    budget = session.get(ProjectBudget, project_id)
    if budget is None:
        raise NotFound(Message("project {project_id!r} has no budget", project_id=project_id),
                       code="budget.not_found")
    session.delete(budget)
    record(session, action="usage.budget.remove", actor=actor, target_type="project",
           target_id=project_id, project_id=project_id,
           details=budget.model_dump(include=set(LIMITS), exclude_none=True))


def check_budgets(session: Session, settings: Settings, actor: Actor) -> list[str]:
    """Re-evaluate every budget against the usage recorded so far; each change of state is
    written with its audit event. Returns the projects whose state changed."""
    changed = []
    for budget in session.exec(select(ProjectBudget).order_by(ProjectBudget.project_id)):
        state, fraction = evaluate(budget, _used(session, budget.project_id, settings))
        if state == budget.state:
            continue
        budget.state, budget.state_changed_at = state, utcnow()
        session.add(budget)
        record(session, action=f"usage.budget.{state.value}", actor=actor,
               target_type="project", target_id=budget.project_id,
               project_id=budget.project_id, details=_details(budget, fraction))
        changed.append(budget.project_id)
    return changed


def refusal(budget: ProjectBudget | None) -> str:
    """Why the workspace refuses new servers now ("" if it does not)."""
    if budget is None or budget.state != BudgetState.exhausted:
        return ""
    return ("This project has used its computing budget: new servers are refused until a "
            "permit manager raises it. Running servers go on.")


def notice(budget: ProjectBudget | None) -> str:
    """What the workspace's pages say about the budget ("" if nothing)."""
    if budget is None or budget.state == BudgetState.within:
        return ""
    if budget.state == BudgetState.warning:
        return (f"This project has used over {budget.warn_fraction:.0%} of its computing "
                "budget; at 100 % new servers will be refused.")
    return refusal(budget)
