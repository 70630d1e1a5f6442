"""API calls with the provider's access tokens (JWT, audience = spe's API)."""

from __future__ import annotations

from spe.auth.oidc.identity import Identity, identity_from_claims, require_mfa
from spe.auth.oidc.tokens import TokenValidator


class BearerAuthenticator:
    """``authenticate_bearer(token) -> Identity``, or :class:`TokenRejected` (401)."""

    def __init__(self, validator: TokenValidator) -> None:
        self.validator = validator

    def authenticate_bearer(self, token: str) -> Identity:
        claims = self.validator.access_token(token)
        identity = identity_from_claims(claims, self.validator.config)
        return require_mfa(identity, self.validator.config)
