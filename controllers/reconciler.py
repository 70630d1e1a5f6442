"""The permit → workspace reconciler: level-triggered, idempotent, safe to re-run.

:meth:`Reconciler.reconcile` reads what one project's permit wants (``ready``,
``suspended``, ``deleted``), asks the runtime what is there, acts to make them agree, and
records what it saw. Nothing is remembered between calls: a crash at any point is followed
by a call that converges. :meth:`~Reconciler.delete_orphans` tears down runtime objects no
project accounts for. No database transaction is held open while the runtime works. When
and how often each project is reconciled is the controller's (:mod:`controllers.controller`:
a work queue fed by permit changes and a periodic resync).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from controllers import usage
from controllers.profiles import load_profile
from controllers.runtimes.base import ObservedWorkspace, Runtime, WorkspacePhase
from spe import telemetry
from spe.audit import Actor, record
from spe.auth.hub_clients import (
    HubCredentials,
    register_hub_client,
    remove_hub_client,
    set_redirect_uri,
)
from spe.crypto.secretbox import SecretBox
from spe.db import session_scope
from spe.db.types import utcnow
from spe.domain import budgets, workspace_lifecycle
from spe.domain.permits import Permit, PermitStatus, members_of
from spe.domain.projects import DesiredState, Project, desired_state
from spe.errors import RetryableError, TerminalError
from spe.settings import Settings
from workspaces.spec import ExtractRef, HubOAuthClient, WorkspaceSpec

log = logging.getLogger(__name__)
ACTOR = Actor.system("reconciler")
RECHECK_SECONDS = 5.0
"""How soon a workspace still coming up (its hub not ready yet) is looked at again."""
OBSERVED_REFRESH = timedelta(minutes=5)
"""A project's ``observed_at`` is written when what is seen changes, and otherwise at most
this often (so a resync of unchanged projects writes nothing)."""


class DataPlane(Protocol):
    """What the reconciler needs from the data plane."""

    def prepare(self, project: Project, permit: Permit) -> ExtractRef | None:
        """The project's extract for the permit as it stands now, prepared if needed."""

    def shred(self, project_id: str) -> bool:
        """Destroy the project's key and extract objects; False if nothing was left."""

    def work_area_key(self, project_id: str) -> str:
        """The project's work-area key (for a runtime that encrypts work areas with it)."""

    def shred_work_area(self, project_id: str) -> bool:
        """Destroy the project's work-area key, audited; False if there was none left."""


def workspace_spec(settings: Settings, project: Project, permit: Permit,
                   users: tuple[str, ...], creds: HubCredentials,
                   extract: ExtractRef | None,
                   budget: budgets.ProjectBudget | None = None,
                   work_area_key: str = "") -> WorkspaceSpec:
    """What the runtime is asked to make of a project (also shown by ``spe workspace
    render``, with the credentials redacted). A spent budget makes the hub refuse new
    servers; a nearly spent one puts a notice on its pages."""
    base = settings.public_url.rstrip("/")
    return WorkspaceSpec(
        project_id=project.id, permit_reference=permit.reference, users=users,
        profile=load_profile(permit.workspace_profile),
        oauth=HubOAuthClient(client_id=creds.client_id, client_secret=creds.client_secret,
                             authorize_url=f"{base}/oauth/authorize",
                             token_url=f"{base}/oauth/token",
                             userdata_url=f"{base}/oauth/userinfo"),
        control_plane_url=base, hub_service_token=creds.service_token, extract=extract,
        labels={"spe.io/permit": permit.reference},
        spawn_refusal=budgets.refusal(budget), notice=budgets.notice(budget),
        work_area_key=work_area_key)


@dataclass(frozen=True)
class Result:
    project_id: str
    desired: DesiredState
    observed: str
    error: str | None = None
    retry: bool = False  # a failure worth trying again (the queue backs off)
    recheck_after: float | None = None  # seconds until the project should be looked at again


class Reconciler:
    """What one project's permit wants, made true by the runtime: :meth:`reconcile` is
    called per project by the controller's workers (:mod:`controllers.controller`), never
    for the same project by two of them at once."""

    def __init__(self, engine: Engine, runtime: Runtime, settings: Settings,
                 box: SecretBox, data_plane: DataPlane | None = None) -> None:
        self.engine, self.runtime, self.settings = engine, runtime, settings
        self.box, self.data_plane = box, data_plane

    # --- every project --------------------------------------------------------------------
    def project_ids(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.exec(select(Project.id).order_by(Project.id)))

    def run_once(self) -> list[Result]:
        """One full pass, in this thread: every project, then the orphans (``spe controller
        --once``; the controller itself goes through its queue)."""
        with telemetry.tracer().start_as_current_span("reconcile.pass"):
            results = [self.reconcile(pid) for pid in self.project_ids()]
            self.delete_orphans()
            return results

    def delete_orphans(self) -> list[str]:
        """Tear down what the runtime runs for no project. The runtime is asked first: a
        project it has was in the database before, so it cannot be taken for an orphan."""
        running = self.runtime.projects()
        orphans = sorted(running - set(self.project_ids()))
        for orphan in orphans:
            log.warning("tearing down orphan workspace %s", orphan)
            self.runtime.delete(orphan)
            with session_scope(self.engine) as session:
                record(session, action="workspace.orphan.delete", actor=ACTOR,
                       target_type="workspace", target_id=orphan)
        return orphans

    def stop_workspaces(self, reason: str = "the control plane stopped") -> None:
        """Suspend every workspace the runtime runs, side by side, and record each one: on the
        local runtime a stopped control plane means stopped workspaces (their files stay; the
        next start brings back those whose permit still wants them)."""
        known = set(self.project_ids())
        running = sorted(self.runtime.projects())
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(running)))) as pool:
            seen = dict(zip(running, pool.map(self._suspend_for_stop, running), strict=True))
        for project_id, observed in seen.items():
            if observed is None or project_id not in known:
                continue
            state = "absent" if observed.phase is WorkspacePhase.ABSENT else "suspended"
            try:
                self._record(project_id, state, observed=observed, message=reason)
            except Exception:  # keep recording the others
                log.exception("recording the stop of workspace %s", project_id)

    def _suspend_for_stop(self, project_id: str) -> ObservedWorkspace | None:
        try:
            return self.runtime.suspend(project_id)
        except Exception:  # keep stopping the others
            log.exception("stopping workspace %s", project_id)
            return None

    # --- one project ----------------------------------------------------------------------
    def reconcile(self, project_id: str) -> Result:
        with telemetry.tracer().start_as_current_span("reconcile.project",
                                                      attributes={"spe.project": project_id}):
            with Session(self.engine) as session:
                project = session.get(Project, project_id)
                permit = session.get(Permit, project.permit_id) if project else None
            if project is None or permit is None:
                return Result(project_id, DesiredState.deleted, "absent", "no such project")
            now = utcnow()
            desired = desired_state(permit, now)
            try:
                observed = self._act(project, permit, desired)
            except RetryableError as exc:
                log.info("project %s: will retry: %s", project_id, exc)
                return Result(project_id, desired, project.observed_state, str(exc), retry=True)
            except TerminalError as exc:  # the operator's to fix: reported, not retried
                self._record(project_id, "error", message=str(exc))
                return Result(project_id, desired, "error", str(exc))
            except Exception as exc:  # a bug or a crash: retried with backoff, logged
                log.exception("project %s: reconcile failed", project_id)
                return Result(project_id, desired, project.observed_state,
                              f"{type(exc).__name__}: {exc}", retry=True)
            return Result(project_id, desired, observed,
                          recheck_after=_recheck_after(permit, desired, observed, now))

    # --- acting ---------------------------------------------------------------------------
    def _act(self, project: Project, permit: Permit, desired: DesiredState) -> str:
        if desired is DesiredState.ready:
            return self._make_ready(project, permit)
        if desired is DesiredState.suspended:
            observed = self.runtime.suspend(project.id)
            state = "suspended" if observed.phase is not WorkspacePhase.ABSENT else "absent"
            if state == "suspended":  # browsers on its address see why, not an error
                self.runtime.show_closed(project.id, self.settings.public_url.rstrip("/")
                                         + f"/workspaces/{project.id}/closed")
            self._record(project.id, state, observed=observed)
            return state
        if desired is DesiredState.deleted:
            return self._tear_down(project, permit)
        return project.observed_state  # pending: nothing to do before the permit starts

    def _make_ready(self, project: Project, permit: Permit) -> str:
        with session_scope(self.engine) as session:
            creds = register_hub_client(session, self.box, project.id, actor=ACTOR)
            users = tuple(members_of(session, permit.id))
            budget = session.get(budgets.ProjectBudget, project.id)
        if project.observed_state in ("absent", "deleted", "error"):
            self._record(project.id, "provisioning")
        extract = self.data_plane.prepare(project, permit) if self.data_plane else None
        key = self.data_plane.work_area_key(project.id) \
            if self.data_plane and self.runtime.encrypts_work_areas() else ""
        observed = self.runtime.ensure(workspace_spec(self.settings, project, permit, users,
                                                      creds, extract, budget, key))
        state = {WorkspacePhase.READY: "ready", WorkspacePhase.ERROR: "error"}.get(
            observed.phase, "provisioning")
        with session_scope(self.engine) as session:
            if observed.url:
                set_redirect_uri(session, project.id,
                                 f"{observed.url.rstrip('/')}/hub/oauth_callback", actor=ACTOR)
            self._observe(session, project.id, state, observed)
        return state

    def _tear_down(self, project: Project, permit: Permit) -> str:
        if project.observed_state == "deleted" and \
                self.runtime.observe(project.id).phase is WorkspacePhase.ABSENT:
            return "deleted"  # done on an earlier pass; nothing to ask of the runtime
        if self.data_plane:  # first: the volumes go unreadable before they go
            self.data_plane.shred_work_area(project.id)
        self.runtime.delete(project.id)
        usage.released(self.engine, project.id)  # no copy, no storage left on the runtime
        with session_scope(self.engine) as session:
            remove_hub_client(session, project.id, actor=ACTOR)
        if self.data_plane and self._shred_due(permit):
            self.data_plane.shred(project.id)
        self._record(project.id, "deleted")
        return "deleted"

    def _shred_due(self, permit: Permit) -> bool:
        """Revoked: now. Expired: after the retention delay (EHDS Art. 68(12): ≤ 6 months)."""
        if permit.status is PermitStatus.revoked:
            return True
        delay = timedelta(days=self.settings.expired_data_retention_days)
        return utcnow() >= permit.valid_until + delay

    # --- recording ------------------------------------------------------------------------
    def _record(self, project_id: str, state: str, observed: ObservedWorkspace | None = None,
                message: str = "") -> None:
        with session_scope(self.engine) as session:
            self._observe(session, project_id, state, observed, message)

    def _observe(self, session: Session, project_id: str, state: str,
                 observed: ObservedWorkspace | None, message: str = "") -> None:
        project = session.get(Project, project_id)
        message = (message or (observed.message if observed else ""))[:2000]
        url = observed.url if observed and state == "ready" else None
        if (project.observed_state, project.observed_message, project.workspace_url) == \
                (state, message, url) and project.observed_at is not None and \
                utcnow() - project.observed_at < OBSERVED_REFRESH:
            return  # nothing new: the steady state of a resync writes nothing
        workspace_lifecycle.observe(
            session, project, state, actor=ACTOR, message=message, url=url,
            details={"servers": len(observed.servers)} if observed else None)


def _recheck_after(permit: Permit, desired: DesiredState, observed: str,
                   now: datetime) -> float | None:
    """When to look at a project again without being asked: when its permit starts or ends
    (so a workspace opens and closes on time), soon while it is still coming up."""
    if desired is DesiredState.pending:
        return (permit.valid_from - now).total_seconds()
    if desired is DesiredState.ready:
        if observed != "ready":
            return RECHECK_SECONDS
        return (permit.valid_until - now).total_seconds()
    return None
