"""The reconciler: desired state from the permit, idempotent passes, crash recovery."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from controllers.jobs import expire_permits, standard_jobs
from controllers.reconciler import Reconciler
from spe.audit.models import AuditEvent
from spe.auth.hub_clients import HubClient
from spe.db import session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from tests.controllers.conftest import MemoryRuntime
from testsupport.factories import make_dataset, permit_body

MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")


class Crash(Exception):
    """A process dying in the middle of a step."""


def grant(engine, **kw) -> tuple[str, str]:
    body = permit_body(make_dataset(engine), ["alice"], **kw)
    with session_scope(engine) as s:
        permit = lifecycle.create_permit(s, PermitCreate(**body), MANAGER)
        project = s.exec(select(Project).where(Project.permit_id == permit.id)).one()
        return permit.id, project.id


def state(engine, project_id: str) -> str:
    with Session(engine) as s:
        return s.get(Project, project_id).observed_state


def actions(engine, project_id: str) -> list[str]:
    with Session(engine) as s:
        return [e.action for e in s.exec(select(AuditEvent).where(
            AuditEvent.project_id == project_id, AuditEvent.action.like("workspace.%"))
            .order_by(AuditEvent.seq))]


@pytest.fixture
def runtime():
    return MemoryRuntime()


@pytest.fixture
def reconciler(engine, runtime, settings, box):
    return Reconciler(engine, runtime, settings, box)


def test_active_permit_becomes_a_ready_workspace(engine, runtime, reconciler):
    _, project = grant(engine)
    [result] = reconciler.run_once()
    assert result.observed == "ready" and result.error is None
    assert state(engine, project) == "ready"
    spec = runtime.hubs[project]["spec"]
    assert spec.users == ("alice",)
    assert spec.oauth.authorize_url.endswith("/oauth/authorize")
    with Session(engine) as s:
        client = s.exec(select(HubClient).where(HubClient.project_id == project)).one()
        assert client.redirect_uri == f"http://127.0.0.1:9/{project}/hub/oauth_callback"
    assert actions(engine, project) == ["workspace.provision", "workspace.ready"]


def test_passes_are_idempotent(engine, runtime, reconciler):
    _, project = grant(engine)
    for _ in range(3):
        reconciler.run_once()
    assert runtime.starts == 1
    assert actions(engine, project) == ["workspace.provision", "workspace.ready"]


def test_suspend_resume_revoke(engine, runtime, reconciler):
    permit, project = grant(engine)
    reconciler.run_once()
    with session_scope(engine) as s:
        lifecycle.suspend_permit(s, permit, "incident", MANAGER)
    reconciler.run_once()
    assert state(engine, project) == "suspended" and not runtime.hubs[project]["running"]
    with session_scope(engine) as s:
        lifecycle.resume_permit(s, permit, "cleared", MANAGER)
    reconciler.run_once()
    assert state(engine, project) == "ready" and runtime.hubs[project]["running"]
    with session_scope(engine) as s:
        lifecycle.revoke_permit(s, permit, "ended", MANAGER)
    reconciler.run_once()
    assert state(engine, project) == "deleted" and project not in runtime.hubs
    with Session(engine) as s:
        assert s.exec(select(HubClient).where(HubClient.project_id == project)).first() is None
    assert actions(engine, project)[-3:] == ["workspace.suspend", "workspace.ready",
                                             "workspace.delete"]
    deletes = []
    runtime.delete = deletes.append
    reconciler.run_once()
    assert deletes == []  # already gone: later passes only look


def test_expired_permit_is_torn_down_and_its_expiry_recorded_by_the_job(engine, runtime,
                                                                       reconciler):
    permit, project = grant(engine, days=1, starts_in_days=-3)
    runtime.hubs[project] = {"spec": None, "running": True}  # left from when it was active
    reconciler.run_once()  # the dates alone say deleted
    assert project not in runtime.hubs and state(engine, project) == "deleted"
    assert expire_permits(engine) == [permit]  # the job records the transition
    assert expire_permits(engine) == []
    with Session(engine) as s:
        events = [e.action for e in s.exec(select(AuditEvent)
                                            .where(AuditEvent.target_id == permit))]
    assert events.count("permit.expire") == 1


def test_not_yet_valid_permit_waits(engine, runtime, reconciler):
    _, project = grant(engine, starts_in_days=5)
    [result] = reconciler.run_once()
    assert result.desired == "pending" and project not in runtime.hubs


def test_orphans_are_torn_down(engine, runtime, reconciler):
    runtime.hubs["p-0rphan00"] = {"spec": None, "running": True}
    reconciler.run_once()
    assert "p-0rphan00" not in runtime.hubs
    with Session(engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.target_id == "p-0rphan00",
                                               AuditEvent.action == "workspace.orphan.delete")
                      ).first() is not None


def test_one_failing_project_does_not_stop_the_others(engine, runtime, reconciler,
                                                      monkeypatch):
    _, broken = grant(engine)
    _, healthy = grant(engine)
    real = runtime.ensure

    def ensure(spec):
        if spec.project_id == broken:
            raise RuntimeError("hub image missing")
        return real(spec)

    monkeypatch.setattr(runtime, "ensure", ensure)
    results = {r.project_id: r for r in reconciler.run_once()}
    assert "hub image missing" in results[broken].error
    assert results[healthy].observed == "ready" and state(engine, healthy) == "ready"


@pytest.mark.parametrize("step", ["register", "ensure", "record"])
def test_crash_at_any_step_converges(engine, runtime, reconciler, monkeypatch, step):
    """Die in the middle of a step, restart (a new reconciler), and end up exactly ready:
    one hub, one client, no duplicate events."""
    import controllers.reconciler as module

    _, project = grant(engine)
    targets = {"register": (module, "register_hub_client"),
               "ensure": (runtime, "ensure"),
               "record": (module, "set_redirect_uri")}
    owner, name = targets[step]
    original = getattr(owner, name)

    def crash_after(*args, **kwargs):
        original(*args, **kwargs)
        raise Crash(step)

    monkeypatch.setattr(owner, name, crash_after)
    [result] = reconciler.run_once()
    assert result.error == f"Crash: {step}"
    monkeypatch.setattr(owner, name, original)

    restarted = Reconciler(engine, runtime, reconciler.settings, reconciler.box)
    restarted.run_once()
    restarted.run_once()
    assert state(engine, project) == "ready"
    assert runtime.starts == 1 and set(runtime.hubs) == {project}
    with Session(engine) as s:
        assert len(s.exec(select(HubClient).where(HubClient.project_id == project)).all()) == 1
    assert actions(engine, project).count("workspace.ready") == 1


def test_crash_during_teardown_converges(engine, runtime, reconciler, monkeypatch):
    import controllers.reconciler as module

    permit, project = grant(engine)
    reconciler.run_once()
    with session_scope(engine) as s:
        lifecycle.revoke_permit(s, permit, "ended", MANAGER)
    original = module.remove_hub_client

    def crash(*args, **kwargs):
        raise Crash("teardown")

    monkeypatch.setattr(module, "remove_hub_client", crash)
    [result] = reconciler.run_once()
    assert result.error == "Crash: teardown"
    assert project not in runtime.hubs  # the runtime went first
    monkeypatch.setattr(module, "remove_hub_client", original)
    reconciler.run_once()
    assert state(engine, project) == "deleted"
    with Session(engine) as s:
        assert s.exec(select(HubClient).where(HubClient.project_id == project)).first() is None


def test_the_controller_signs_no_audit_checkpoint_and_never_reads_the_audit_key(
        engine, reconciler, settings, tmp_path):
    """Checkpoints are the checkpoint signer's (tests/audit/test_signer.py): the controller,
    its passes and its jobs, neither signs one nor loads (or creates) the audit signing key."""
    from spe.audit.models import AuditCheckpoint
    from spe.storage.local import LocalObjectStore

    grant(engine)
    reconciler.run_once()
    jobs = standard_jobs(engine, settings, quarantine=LocalObjectStore(tmp_path / "objects"))
    assert all(job.run_if_due() for job in jobs)
    with Session(engine) as s:
        assert s.exec(select(AuditCheckpoint)).all() == []
    assert not reconciler.settings.resolved_audit_signing_key_path.exists()


def test_stopping_the_control_plane_suspends_and_records_every_workspace(engine, runtime,
                                                                         reconciler):
    _, first = grant(engine)
    _, second = grant(engine)
    reconciler.run_once()
    runtime.hubs["p-orphan"] = {"spec": None, "running": True}  # no project: stopped, unrecorded
    failing = runtime.suspend

    def suspend(project_id):
        if project_id == second:
            raise Crash("suspend")
        return failing(project_id)

    runtime.suspend = suspend
    reconciler.stop_workspaces()
    assert not runtime.hubs[first]["running"] and not runtime.hubs["p-orphan"]["running"]
    assert state(engine, first) == "suspended"
    with Session(engine) as s:
        assert s.get(Project, first).observed_message == "the control plane stopped"
    assert actions(engine, first)[-1] == "workspace.suspend"
    assert state(engine, second) == "ready"  # its failure did not stop the others
    [result] = [r for r in reconciler.run_once() if r.project_id == first]
    assert result.observed == "ready"  # the next start brings it back


def test_the_usage_job_records_samples_once_per_interval(engine, runtime, settings,
                                                         reconciler):
    from spe.domain.usage import ProjectUsage, Sample

    class Meter:
        calls = 0

        def sample(self):
            self.calls += 1
            if self.calls == 2:
                raise OSError("/proc unreadable")  # logged, the job runs again next time
            return [Sample(project, "alice", cpu_seconds=30), Sample("p-gone", cpu_seconds=9)]

    _, project = grant(engine)
    meter = Meter()
    [job] = [j for j in standard_jobs(engine, settings, meter=meter) if j.name == "usage sample"]
    assert job.run_if_due()
    assert not job.run_if_due()  # within the interval: no sample
    assert meter.calls == 1
    assert job.run_if_due(now=job.due)  # the interval has passed; the meter fails
    assert job.run_if_due(now=job.due)
    assert meter.calls == 3
    with Session(engine) as s:
        rows = s.exec(select(ProjectUsage)).all()
    assert [(r.project_id, r.member, r.cpu_seconds) for r in rows] == [(project, "alice", 60)]
