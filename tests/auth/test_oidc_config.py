"""The OIDC settings refuse what would be insecure or meaningless."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spe.auth.oidc import OidcConfig
from spe.domain.roles import Role

BASE = {"client_id": "spe", "client_secret": "s", "mfa_amr_methods": ["otp"]}


def make(**values) -> OidcConfig:
    return OidcConfig(_env_file=None, **{**BASE, **values})


@pytest.mark.parametrize("issuer", ["https://idp.example/realms/spe", "http://127.0.0.1:8080",
                                    "http://localhost:8080/realms/x", "http://[::1]:9000"])
def test_https_issuers_and_plain_http_on_loopback_are_accepted(issuer):
    assert make(issuer=issuer).issuer == issuer


@pytest.mark.parametrize("issuer", ["http://idp.example", "http://10.0.0.1", "ftp://idp",
                                    "https://idp.example/?realm=x", "idp.example"])
def test_other_issuers_are_refused(issuer):
    with pytest.raises(ValidationError, match="issuer"):
        make(issuer=issuer)


def test_settings_come_from_spe_oidc_environment_variables(monkeypatch):
    monkeypatch.setenv("SPE_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("SPE_OIDC_CLIENT_ID", "spe")
    monkeypatch.setenv("SPE_OIDC_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("SPE_OIDC_MFA_ACR_VALUES", '["eidas2", "eidas3"]')
    monkeypatch.setenv("SPE_OIDC_ROLE_MAPPING", '{"checkers": ["output_checker"]}')
    config = OidcConfig(_env_file=None)
    assert config.mfa_acr_values == ["eidas2", "eidas3"]
    assert config.role_mapping == {"checkers": [Role.output_checker]}
    assert config.client_secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)


def test_openid_scope_is_always_asked():
    assert make(issuer="https://idp.example", scopes=["email"]).scopes == ["openid", "email"]


def test_role_mapping_names_only_spe_roles():
    with pytest.raises(ValidationError, match="role_mapping"):
        make(issuer="https://idp.example", role_mapping={"g": ["superuser"]})


def test_the_api_audience_cannot_be_the_client_id():
    with pytest.raises(ValidationError, match="audience must differ from the client id"):
        make(issuer="https://idp.example", audience="spe")


def test_required_mfa_needs_a_way_to_recognise_it():
    with pytest.raises(ValidationError, match="require_mfa needs"):
        OidcConfig(_env_file=None, issuer="https://idp.example", client_id="spe",
                   client_secret="s")
    relaxed = OidcConfig(_env_file=None, issuer="https://idp.example", client_id="spe",
                         client_secret="s", require_mfa=False)
    assert relaxed.mfa_acr_values == [] and relaxed.mfa_amr_methods == []


def test_extra_authorize_params_cannot_replace_the_security_ones():
    assert make(issuer="https://idp.example", authorize_params={"prompt": "login"})
    with pytest.raises(ValidationError, match="authorize_params cannot set nonce, state"):
        make(issuer="https://idp.example", authorize_params={"state": "x", "nonce": "y"})
