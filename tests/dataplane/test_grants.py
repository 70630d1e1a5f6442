"""Extract grants: bound to one project, expiring, stable over half their lifetime."""

from __future__ import annotations

import pytest

from spe.dataplane.grants import GrantRefused, check_grant, issue_grant

KEY = b"k" * 32
NOW = 1_750_000_000


def test_a_grant_opens_its_project_only():
    grant, expires = issue_grant(KEY, "p-1", 900, now=NOW)
    check_grant(KEY, grant, "p-1", now=NOW)
    assert NOW + 450 < expires <= NOW + 900
    with pytest.raises(GrantRefused):
        check_grant(KEY, grant, "p-2", now=NOW)


def test_expired_forged_or_foreign_grants_are_refused():
    grant, expires = issue_grant(KEY, "p-1", 900, now=NOW)
    with pytest.raises(GrantRefused):
        check_grant(KEY, grant, "p-1", now=expires)
    with pytest.raises(GrantRefused):
        check_grant(b"x" * 32, grant, "p-1", now=NOW)
    for junk in ("spe_personal-token", "", grant[:-2] + "AA"):
        with pytest.raises(GrantRefused):
            check_grant(KEY, junk, "p-1", now=NOW)


def test_the_grant_is_the_same_within_a_window():
    window = 450
    start = (NOW // window) * window
    assert issue_grant(KEY, "p-1", 900, now=start) == issue_grant(KEY, "p-1", 900,
                                                                  now=start + window - 1)
    assert issue_grant(KEY, "p-1", 900, now=start) != issue_grant(KEY, "p-1", 900,
                                                                  now=start + window)
