"""The one state-machine shape: check and can agree, apply moves the state and audits it in
the caller's transaction, and the three machines' diagrams are the ones in the docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from spe.airlock import review
from spe.audit import Actor
from spe.audit.models import AuditEvent
from spe.db import session_scope
from spe.domain import permit_lifecycle, workspace_lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.errors import Conflict
from testsupport.factories import make_dataset, permit_body, unique

DOCS = Path(__file__).parents[2] / "docs"
ACTOR = Actor.system("test")


@pytest.mark.parametrize(("machine", "doc"), [
    (permit_lifecycle.state_diagram, "permits.md"),
    (review.state_diagram, "egress.md"),
    (workspace_lifecycle.state_diagram, "workspaces.md"),
])
def test_the_docs_draw_the_tables(machine, doc):
    assert f"```mermaid\n{machine()}```" in (DOCS / doc).read_text(encoding="utf-8")


@pytest.mark.parametrize("machine", [permit_lifecycle.MACHINE, review.MACHINE,
                                     workspace_lifecycle.MACHINE])
def test_check_and_can_agree_on_every_state(machine):
    for name, transition in machine.transitions.items():
        for state in machine.states:
            allowed = state in transition.sources
            assert machine.can(name, state) is allowed
            if allowed:
                assert machine.check(name, state, "x") is transition
            else:
                with pytest.raises(Conflict) as caught:
                    machine.check(name, state, "x")
                assert caught.value.code == machine.code


def test_the_workspace_moves_only_as_the_reconciler_does():
    moves = {(s, t.target) for t in workspace_lifecycle.MACHINE.table for s in t.sources}
    assert ("absent", "ready") not in moves  # always through provisioning
    assert ("error", "ready") not in moves
    assert {t for s, t in moves if s == "deleted"} == {"absent", "error"}
    every = {(a, b) for a in workspace_lifecycle.STATES for b in workspace_lifecycle.STATES
             if a != b}
    assert len(moves) < len(every)


def _project(engine) -> str:
    manager = Principal(user_id=None, subject="pm", roles=frozenset({Role.permit_manager}),
                        via="token")
    body = permit_body(make_dataset(engine), [unique("alice")])
    with session_scope(engine) as s:
        permit = permit_lifecycle.create_permit(s, PermitCreate(**body), manager)
        return s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()


def test_apply_moves_and_audits_in_one_transaction(engine):
    project_id = _project(engine)
    with Session(engine) as s:  # rolled back: neither the move nor its event stays
        project = s.get(Project, project_id)
        workspace_lifecycle.observe(s, project, "provisioning", actor=ACTOR)
        s.rollback()
    with Session(engine) as s:
        assert s.get(Project, project_id).observed_state == "absent"
        assert s.exec(select(AuditEvent).where(AuditEvent.target_id == project_id,
                                               AuditEvent.action == "workspace.provision")
                      ).first() is None
    with session_scope(engine) as s:
        project = s.get(Project, project_id)
        with pytest.raises(Conflict, match="cannot go from absent to ready"):
            workspace_lifecycle.observe(s, project, "ready", actor=ACTOR)
        assert workspace_lifecycle.observe(s, project, "provisioning", actor=ACTOR)
        assert not workspace_lifecycle.observe(s, project, "provisioning", actor=ACTOR)
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.target_id == project_id,
                                                AuditEvent.action == "workspace.provision")
                       ).one()
        assert (event.details["from"], event.details["to"]) == ("absent", "provisioning")
