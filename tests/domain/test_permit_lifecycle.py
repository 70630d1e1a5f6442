"""Every (status, transition) pair of the permit state machine: legal ones succeed, every
illegal one is refused with a 409 naming the current status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spe.db import session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import PermitCreate, PermitRenew, PermitStatus, get_permit
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.errors import Conflict, Forbidden
from testsupport.factories import make_dataset, permit_body

MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")
PLATFORM = Principal.system("reconciler")
RESEARCHER = Principal(user_id="u-r", subject="r", roles=frozenset({Role.researcher}),
                       via="token")


def permit_in(engine, status: PermitStatus) -> str:
    """A permit brought into ``status`` through the state machine itself."""
    past = status is PermitStatus.expired
    body = permit_body(make_dataset(engine), ["alice"], days=1 if past else 30,
                       starts_in_days=-3 if past else -1)
    with session_scope(engine) as s:
        permit_id = lifecycle.create_permit(s, PermitCreate(**body), MANAGER).id
    steps = {
        PermitStatus.granted: [],
        PermitStatus.amended: [("amend", {"purpose": "x", "reason": "r"})],
        PermitStatus.renewed: [("renew", None)],
        PermitStatus.suspended: [("suspend", None)],
        PermitStatus.revoked: [("revoke", None)],
        PermitStatus.expired: [("expire", None)],
    }[status]
    for name, _ in steps:
        apply(engine, permit_id, name)
    return permit_id


def apply(engine, permit_id: str, name: str) -> None:
    from spe.domain.permits import PermitAmend

    with session_scope(engine) as s:
        {
            "amend": lambda: lifecycle.amend_permit(
                s, permit_id, PermitAmend(purpose="changed", reason="r"), MANAGER),
            "renew": lambda: lifecycle.renew_permit(s, permit_id, PermitRenew(
                valid_until=get_permit(s, permit_id).valid_until + timedelta(days=30)),
                MANAGER),
            "suspend": lambda: lifecycle.suspend_permit(s, permit_id, "r", MANAGER),
            "resume": lambda: lifecycle.resume_permit(s, permit_id, "r", MANAGER),
            "revoke": lambda: lifecycle.revoke_permit(s, permit_id, "r", MANAGER),
            "expire": lambda: lifecycle.expire_permit(s, permit_id, PLATFORM),
        }[name]()


@pytest.mark.parametrize("status", list(PermitStatus))
@pytest.mark.parametrize("name", list(lifecycle.TRANSITIONS))
def test_every_pair(engine, status, name):
    permit_id = permit_in(engine, status)
    # the platform's expiry needs lapsed dates too: see test_expire_only_past_the_dates
    legal = name != "expire" and status in lifecycle.TRANSITIONS[name].sources
    if legal:
        apply(engine, permit_id, name)
        return
    with pytest.raises(Conflict) as refused:
        apply(engine, permit_id, name)
    assert refused.value.status == 409
    assert refused.value.code == "permit.invalid_transition"
    assert status.value in refused.value.message


def test_expire_only_past_the_dates(engine):
    active = permit_in(engine, PermitStatus.granted)
    with pytest.raises(Conflict):
        apply(engine, active, "expire")
    body = permit_body(make_dataset(engine), ["alice"], days=1, starts_in_days=-3)
    with session_scope(engine) as s:
        lapsed = lifecycle.create_permit(s, PermitCreate(**body), MANAGER).id
    apply(engine, lapsed, "expire")


def test_only_permit_managers_and_the_platform_act(engine):
    permit_id = permit_in(engine, PermitStatus.granted)
    with session_scope(engine) as s:
        permit = get_permit(s, permit_id)
        assert lifecycle.can_transition(permit, "suspend", MANAGER)
        assert not lifecycle.can_transition(permit, "suspend", RESEARCHER)
        assert not lifecycle.can_transition(permit, "expire", MANAGER)
        with pytest.raises(Forbidden):
            lifecycle.check_can_transition(permit, "revoke", RESEARCHER,
                                           datetime.now(UTC) + timedelta(seconds=1))
