"""API calls with the provider's access tokens from a real code flow."""

from __future__ import annotations

import anyio
import pytest

from spe.auth.oidc import BearerAuthenticator, MfaRequired, OpenIdProvider, TokenValidator
from spe.domain.roles import Role


@pytest.fixture(scope="module")
def bearer(oidc_provider) -> BearerAuthenticator:
    config = oidc_provider.config(role_mapping={"/spe/checkers": ["output_checker"]})
    return BearerAuthenticator(TokenValidator(OpenIdProvider(config)))


def access_token(oidc_provider, login: str, **claims) -> str:
    oidc_provider.set_user(login, **claims)
    return anyio.run(oidc_provider.tokens_for, login)["access_token"]


def test_the_users_access_token_gives_their_identity(oidc_provider, bearer):
    token = access_token(oidc_provider, "dora", name="Dora", amr=["pwd", "otp"],
                         groups=["/spe/checkers", "/other"])
    identity = bearer.authenticate_bearer(token)
    assert identity.subject == "dora"
    assert identity.issuer == oidc_provider.issuer
    assert identity.roles == {Role.output_checker}
    assert identity.mfa_satisfied and identity.amr == {"pwd", "otp"}


def test_an_access_token_from_a_login_without_second_factor_is_refused(oidc_provider, bearer):
    token = access_token(oidc_provider, "eve", amr=["pwd"], groups=["/spe/checkers"])
    with pytest.raises(MfaRequired) as caught:
        bearer.authenticate_bearer(token)
    assert caught.value.status == 401
    assert caught.value.message.startswith("MFA required:")
