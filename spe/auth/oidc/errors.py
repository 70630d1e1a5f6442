"""The errors of the OpenID Connect client side, each with a precise reason.

    spe.errors.SpeError
    ├── Unauthenticated (401)
    │   └── TokenRejected           an ID token or access token failed validation
    │       └── MfaRequired         valid, but the login did not use a second factor
    ├── LoginFailed (400)           the browser came back with a callback we cannot accept
    └── ProviderUnavailable (502)   discovery or JWKS could not be fetched or made no sense

The message is the reason (``wrong issuer``, ``expired``, …) and safe to show: it never
contains the token.
"""

from __future__ import annotations

from spe.errors import SpeError, Unauthenticated


class TokenRejected(Unauthenticated):
    default_code = "auth.oidc.token_rejected"


class MfaRequired(TokenRejected):
    default_code = "auth.oidc.mfa_required"

    def __init__(self, detail: str) -> None:
        super().__init__(f"MFA required: {detail}")


class LoginFailed(SpeError):
    status = 400
    default_code = "auth.oidc.login_failed"


class ProviderUnavailable(SpeError):
    status = 502
    default_code = "auth.oidc.provider_unavailable"
