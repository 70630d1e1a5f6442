"""The rule "may this person enter this project now" has one definition and two forms: the
Python walk that names the reason, and the SQL clause the listings use. They must agree on
every permit status, every position in time, named or not, on both databases."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlmodel import Session

from spe.db import session_scope
from spe.db.types import utcnow
from spe.domain import access
from spe.domain.permits import Permit, PermitMember, PermitStatus
from spe.domain.principal import Principal
from spe.domain.projects import DesiredState, Project, desired_state
from spe.domain.roles import Role
from spe.errors import Forbidden
from testsupport.factories import unique

WINDOWS = {"before": (1, 10), "during": (-1, 1), "after": (-10, -1)}  # days from now
EXPECTED = {  # (status, window) -> the reason shown to a named researcher, None: enters
    **{(s, "during"): None for s in (PermitStatus.granted, PermitStatus.amended,
                                      PermitStatus.renewed)},
    **{(s, "before"): "the permit is not valid yet" for s in (
        PermitStatus.granted, PermitStatus.amended, PermitStatus.renewed)},
    **{(s, "after"): "the permit is expired" for s in (
        PermitStatus.granted, PermitStatus.amended, PermitStatus.renewed,
        PermitStatus.suspended, PermitStatus.expired)},
    (PermitStatus.suspended, "before"): "the permit is suspended",
    (PermitStatus.suspended, "during"): "the permit is suspended",
    (PermitStatus.expired, "before"): "the permit is expired",
    (PermitStatus.expired, "during"): "the permit is expired",
    **{(PermitStatus.revoked, w): "the permit is revoked" for w in WINDOWS},
}


def person(subject: str, *roles: Role, mfa: bool = True) -> Principal:
    return Principal(user_id=f"u-{subject}", subject=subject, roles=frozenset(roles),
                     via="token", mfa=mfa)


@pytest.fixture(scope="module")
def world(engine):
    """A project for every (status, window); ``alice`` is named in each, ``bob`` in none."""
    now = utcnow()
    alice = unique("alice")
    projects = {}
    with session_scope(engine) as s:
        for status, window in itertools.product(PermitStatus, WINDOWS):
            start, end = WINDOWS[window]
            permit = Permit(reference=unique("ACC"), issuer="i", purpose="p", project_title="t",
                            principal_investigator=alice, sdc_policy="snds",
                            workspace_profile="standard", status=status,
                            valid_from=now + timedelta(days=start),
                            valid_until=now + timedelta(days=end))
            s.add(permit)
            s.flush()
            s.add(PermitMember(permit_id=permit.id, subject=alice))
            project = Project(permit_id=permit.id, title="t")
            s.add(project)
            s.flush()
            projects[status, window] = project.id
    return now, alice, projects


def test_the_reason_is_the_table_and_both_forms_agree(engine, world):
    now, alice, projects = world
    researcher = person(alice, Role.researcher)
    with Session(engine) as s:
        listed = {p.id for p, _ in s.exec(access.visible_projects_query(
            alice, frozenset({Role.researcher}), now))}
        for key, project_id in projects.items():
            refused = access.refusal(s, researcher, project_id, now=now)
            assert (refused.reason if refused else None) == EXPECTED[key], key
            assert (refused is None) == (project_id in listed), key
            permit = s.get(Permit, s.get(Project, project_id).permit_id)
            assert (access.permit_refusal(permit, now) is None) == permit.is_active(now), key
            assert (desired_state(permit, now) is DesiredState.ready) == (refused is None), key
            assert access.can_enter(s, researcher, project_id, now=now) == (refused is None)


def test_nobody_else_enters(engine, world):
    now, alice, projects = world
    open_project = projects[PermitStatus.granted, "during"]
    bob = unique("bob")
    with Session(engine) as s:
        cases = [
            (person(bob, Role.researcher), access.Why.not_named),
            (person(alice, Role.output_checker), access.Why.not_researcher),
            (Principal(user_id=None, subject=alice, roles=frozenset({Role.researcher}),
                       via="system"), access.Why.not_person),
        ]
        for who, why in cases:
            assert access.refusal(s, who, open_project, now=now).why is why
        assert access.refusal(s, person(alice, Role.researcher), "p-nothere",
                              now=now).why is access.Why.no_project
        no_mfa = person(alice, Role.researcher, mfa=False)
        assert access.refusal(s, no_mfa, open_project, now=now) is None
        assert access.refusal(s, no_mfa, open_project, require_mfa=True,
                              now=now).why is access.Why.mfa
        # the SQL form: bob sees nothing of alice's; her roles without researcher see none
        for subject, roles in [(bob, {Role.researcher}), (alice, set())]:
            rows = s.exec(access.visible_projects_query(subject, frozenset(roles), now)
                          .where(Project.id.in_(list(projects.values())))).all()
            assert rows == []
        staff = s.exec(access.visible_projects_query(bob, frozenset({Role.auditor}), now)
                       .where(Project.id.in_(list(projects.values())))).all()
        assert len(staff) == len(projects)


def test_a_refused_entry_says_why(engine, world):
    now, alice, projects = world
    with Session(engine) as s, pytest.raises(Forbidden, match="the permit is suspended"):
        access.check_can_enter(s, person(alice, Role.researcher),
                               projects[PermitStatus.suspended, "during"], now=now)
