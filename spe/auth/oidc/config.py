"""Settings of the connection to the institution's OpenID provider (``SPE_OIDC_*``).

Each setting carries its default and help text; ``docs/identity.md`` explains them with
examples for Keycloak, ProConnect and a generic provider.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from spe.domain.roles import Role

LOOPBACK_HOSTS = {"localhost"}
# Parameters spe sets itself at login; configuration may add others, never replace these.
RESERVED_AUTHORIZE_PARAMS = {"response_type", "client_id", "redirect_uri", "scope", "state",
                             "nonce", "code_challenge", "code_challenge_method", "resource",
                             "acr_values", "response_mode"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OidcConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPE_OIDC_", env_file=".env", extra="ignore")

    issuer: str = Field(
        description="The provider's issuer URL, exactly as in its discovery document. "
        "HTTPS, except on a loopback address (development and tests)."
    )
    client_id: str = Field(description="spe's client id at the provider.")
    client_secret: SecretStr = Field(description="spe's client secret (confidential client).")
    scopes: list[str] = Field(
        ["openid", "profile", "email"],
        description="Scopes asked at login; `openid` is always included. Add the scope "
        "that releases the groups claim if the provider needs one (e.g. `groups`).",
    )
    audience: str | None = Field(
        None,
        description="Audience (`aud`) of the provider's access tokens accepted by spe's "
        "API; also sent as the RFC 8707 `resource` at login. Unset: bearer tokens from the "
        "provider are not accepted. Must differ from the client id, so that an ID token "
        "can never pass as an access token.",
    )
    groups_claim: str = Field("groups", description="Claim listing the person's groups.")
    role_mapping: dict[str, list[Role]] = Field(
        default_factory=dict,
        description="Group → spe roles, as JSON, e.g. `{\"/spe/checkers\": "
        "[\"output_checker\"]}`. A person gets only the roles of their mapped groups.",
    )
    require_mfa: bool = Field(
        True,
        description="Refuse logins and access tokens that do not show a second factor "
        "(through `mfa_acr_values` or `mfa_amr_methods`).",
    )
    mfa_acr_values: list[str] = Field(
        default_factory=list,
        description="`acr` values that mean a multi-factor login, e.g. Keycloak's LoA "
        "names or `eidas2`/`eidas3` at ProConnect. Also requested as `acr_values` at login.",
    )
    mfa_amr_methods: list[str] = Field(
        default_factory=list,
        description="`amr` methods (RFC 8176) any one of which means a second factor, "
        "e.g. `mfa`, `otp`, `hwk`, `swk`.",
    )
    clock_skew_seconds: int = Field(
        60, ge=0, le=300, description="Leeway on `exp`, `iat` and `nbf`."
    )
    jwks_cache_ttl_seconds: int = Field(
        3600, gt=0, description="How long the provider's discovery document and keys "
        "are kept before they are fetched again."
    )
    jwks_min_refetch_seconds: float = Field(
        30, ge=0, description="A token signed by an unknown key triggers a refetch of "
        "the provider's keys at most this often (key rotation, without letting forged "
        "tokens hammer the provider)."
    )
    request_acr_values: bool = Field(
        True,
        description="Send `mfa_acr_values` as `acr_values` at login, so that the provider "
        "steps up to a second factor (turn off for providers that refuse the parameter).",
    )
    authorize_params: dict[str, str] = Field(
        default_factory=dict,
        description="Extra parameters of the authorization request, as JSON, e.g. "
        "ProConnect's `{\"claims\": \"{\\\"id_token\\\": {\\\"amr\\\": "
        "{\\\"essential\\\": true}}}\"}`.",
    )
    userinfo: bool = Field(
        False,
        description="Also read the userinfo endpoint at login (JSON or signed JWT), for "
        "providers that release profile claims only there (ProConnect). The login's access "
        "token must be valid there: leave `audience` unset unless the provider allows both.",
    )
    redirect_uri: str | None = Field(
        None,
        description="Callback URL registered at the provider. Default: "
        "`<public URL>/auth/callback` as the request sees it.",
    )
    post_logout_redirect_uri: str | None = Field(
        None,
        description="Where the provider sends the browser after logout (must be registered "
        "there). Default: the site root as the request sees it.",
    )
    http_timeout_seconds: float = Field(10, gt=0, description="Timeout of calls to the provider.")

    @field_validator("issuer")
    @classmethod
    def _issuer_is_https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" or (parts.scheme == "http"
                                       and is_loopback(parts.hostname or "")):
            if parts.query or parts.fragment:
                raise ValueError("the issuer URL has no query or fragment")
            return value  # compared exactly with the discovery document's issuer
        raise ValueError("the issuer must use https (http only on a loopback address)")

    @field_validator("authorize_params")
    @classmethod
    def _no_reserved_params(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(RESERVED_AUTHORIZE_PARAMS & value.keys())
        if reserved:
            raise ValueError(f"authorize_params cannot set {', '.join(reserved)}")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        return value if "openid" in value else ["openid", *value]

    @model_validator(mode="after")
    def _consistent(self) -> OidcConfig:
        if self.audience is not None and self.audience == self.client_id:
            raise ValueError("the API audience must differ from the client id")
        if self.require_mfa and not (self.mfa_acr_values or self.mfa_amr_methods):
            raise ValueError("require_mfa needs mfa_acr_values or mfa_amr_methods "
                             "(or set require_mfa=false, development only)")
        return self
