"""Identity from claims: roles only through the mapping, MFA by acr or amr."""

from __future__ import annotations

import pytest

from spe.auth.oidc import MfaRequired, OidcConfig, TokenRejected, identity_from_claims, require_mfa
from spe.domain.roles import Role


def config(**overrides) -> OidcConfig:
    values = {"issuer": "https://idp.example", "client_id": "spe", "client_secret": "s",
              "mfa_amr_methods": ["otp", "hwk"], "mfa_acr_values": ["urn:loa:high"],
              "role_mapping": {"checkers": ["output_checker"],
                               "stewards": ["data_steward", "researcher"]}}
    return OidcConfig(_env_file=None, **{**values, **overrides})


def claims(**extra) -> dict:
    return {"iss": "https://idp.example", "sub": "u-1", **extra}


def test_roles_come_only_from_mapped_groups():
    identity = identity_from_claims(claims(groups=["checkers", "stewards", "admins"],
                                           roles=["admin"]), config())
    assert identity.roles == {Role.output_checker, Role.data_steward, Role.researcher}
    assert identity.groups == {"checkers", "stewards", "admins"}


def test_no_groups_no_roles():
    assert identity_from_claims(claims(), config()).roles == frozenset()
    assert identity_from_claims(claims(groups=["unmapped"]), config()).roles == frozenset()


def test_groups_claim_is_configurable():
    identity = identity_from_claims(claims(memberOf=["checkers"], groups=["stewards"]),
                                    config(groups_claim="memberOf"))
    assert identity.roles == {Role.output_checker}


def test_a_groups_claim_that_is_not_strings_is_refused():
    with pytest.raises(TokenRejected, match="claim groups is not a list of strings"):
        identity_from_claims(claims(groups=[{"name": "checkers"}]), config())


@pytest.mark.parametrize(("extra", "satisfied"), [
    ({"amr": ["pwd", "otp"]}, True),
    ({"amr": ["hwk"]}, True),
    ({"acr": "urn:loa:high"}, True),
    ({"acr": "urn:loa:low", "amr": ["pwd"]}, False),
    ({"amr": "otp"}, True),
    ({}, False),
])
def test_mfa_is_an_accepted_acr_or_one_accepted_amr_method(extra, satisfied):
    identity = identity_from_claims(claims(**extra), config())
    assert identity.mfa_satisfied is satisfied
    if satisfied:
        assert require_mfa(identity, config()) is identity
    else:
        with pytest.raises(MfaRequired, match=r"^MFA required: log in with a second factor "
                           r"\(acr in \['urn:loa:high'\] or amr including one of"):
            require_mfa(identity, config())


def test_without_required_mfa_the_identity_passes_but_says_so():
    relaxed = config(require_mfa=False)
    identity = require_mfa(identity_from_claims(claims(amr=["pwd"]), relaxed), relaxed)
    assert identity.mfa_satisfied is False


def test_userinfo_completes_the_profile_but_not_the_login_facts():
    identity = identity_from_claims(
        claims(amr=["pwd"]),
        config(),
        userinfo={"sub": "u-1", "name": "Ada", "email": "ada@example.org",
                  "groups": ["checkers"], "amr": ["otp"], "acr": "urn:loa:high"},
    )
    assert (identity.name, identity.email) == ("Ada", "ada@example.org")
    assert identity.roles == {Role.output_checker}
    assert identity.amr == {"pwd"} and identity.acr is None and not identity.mfa_satisfied


def test_userinfo_for_another_subject_is_refused():
    with pytest.raises(TokenRejected, match="userinfo subject differs"):
        identity_from_claims(claims(), config(), userinfo={"sub": "u-2"})


@pytest.mark.parametrize(("extra", "name"), [
    ({"name": "Ada Lovelace", "given_name": "A"}, "Ada Lovelace"),
    ({"given_name": "Ada", "family_name": "Lovelace"}, "Ada Lovelace"),
    ({"given_name": "Marie", "usual_name": "Curie"}, "Marie Curie"),
    ({}, None),
])
def test_display_name_falls_back_to_given_and_family_names(extra, name):
    assert identity_from_claims(claims(**extra), config()).name == name
