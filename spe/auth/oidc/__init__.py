"""OpenID Connect, client side: spe trusts the institution's identity provider.

Build once per process and wire into the application::

    config = OidcConfig()                       # SPE_OIDC_* settings
    validator = TokenValidator(OpenIdProvider(config))
    app.add_middleware(ServerSessionMiddleware, ...)   # spe.auth.session_middleware
    app.include_router(login_router(validator, on_login))
    identity = BearerAuthenticator(validator).authenticate_bearer(token)
"""

from spe.auth.oidc.bearer import BearerAuthenticator
from spe.auth.oidc.config import OidcConfig
from spe.auth.oidc.errors import LoginFailed, MfaRequired, ProviderUnavailable, TokenRejected
from spe.auth.oidc.identity import Identity, identity_from_claims, require_mfa
from spe.auth.oidc.login import OnLogin, login_router
from spe.auth.oidc.provider import OpenIdProvider, ProviderMetadata
from spe.auth.oidc.tokens import TokenValidator, looks_like_jwt

__all__ = [
    "BearerAuthenticator",
    "Identity",
    "LoginFailed",
    "MfaRequired",
    "OidcConfig",
    "OnLogin",
    "OpenIdProvider",
    "ProviderMetadata",
    "ProviderUnavailable",
    "TokenRejected",
    "TokenValidator",
    "identity_from_claims",
    "login_router",
    "looks_like_jwt",
    "require_mfa",
]
