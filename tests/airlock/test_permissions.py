"""The airlock's permissions: each ``check_can_*`` and its ``can_*`` twin answer alike, and
the requester never reviews their own request."""

from __future__ import annotations

import pytest

from spe.airlock import permissions
from spe.airlock.models import EgressRequest
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.errors import Forbidden

REQUEST = EgressRequest(id="r1", project_id="p-1", permit_id="x", permit_reference="X",
                        requester_id="u-alice", requester_subject="alice", title="t",
                        pack_name="snds", pack_version="1", approvals_required=2,
                        members_may_review=False)


def who(user: str, *roles: Role, project: str | None = None) -> Principal:
    return Principal(user_id=f"u-{user}", subject=user, roles=frozenset(roles), via="token",
                     project_id=project)


CASES = [  # (actor, principal, members, allowed)
    (permissions.REVIEWER, who("carol", Role.output_checker), [], True),
    (permissions.REVIEWER, who("alice", Role.output_checker, Role.researcher), [], False),
    (permissions.REVIEWER, who("dan", Role.output_checker), ["dan"], False),
    (permissions.REVIEWER, who("erin", Role.researcher), [], False),
    (permissions.REQUESTER, who("alice", Role.researcher), [], True),
    (permissions.REQUESTER, who("alice", Role.researcher, project="p-2"), [], False),
    (permissions.REQUESTER, who("bob", Role.researcher), [], False),
    (permissions.STAFF, who("adm", Role.admin), [], True),
    (permissions.STAFF, who("aud", Role.auditor), [], False),
    (permissions.SYSTEM, Principal.system("checks"), [], True),
    (permissions.SYSTEM, who("adm", Role.admin), [], False),
]


@pytest.mark.parametrize(("actor", "principal", "members", "allowed"), CASES)
def test_check_and_can_agree(actor, principal, members, allowed):
    assert permissions.can_act(REQUEST, actor, principal, members) is allowed
    if allowed:
        permissions.check_actor(REQUEST, actor, principal, members)
    else:
        with pytest.raises(Forbidden):
            permissions.check_actor(REQUEST, actor, principal, members)


def test_the_requester_never_reviews_their_own_request():
    alice = who("alice", Role.output_checker, Role.researcher)
    with pytest.raises(Forbidden, match="never review their own") as caught:
        permissions.check_can_review(REQUEST, alice, [])
    assert caught.value.code == "egress.self_review"
    assert not permissions.can_review(REQUEST, alice, [])
    assert not permissions.sees_review(REQUEST, alice)


def test_only_checkers_open_quarantined_files():
    assert permissions.can_view_file(who("carol", Role.output_checker))
    for role in set(Role) - {Role.output_checker}:
        assert not permissions.can_view_file(who("x", role))
        with pytest.raises(Forbidden):
            permissions.check_can_view_file(who("x", role))
