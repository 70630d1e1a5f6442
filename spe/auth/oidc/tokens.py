"""Validation of the provider's ID tokens and JWT access tokens (RFC 9068).

The header is judged before any key is looked up: an unsigned token (``alg: none``) and a
symmetric one (``HS*``, which would let anyone holding a public key forge it) are refused,
and so is any algorithm the provider does not advertise. Then the signature, by the
provider's key for the token's ``kid``; then the token's type; then the claims, each
failure with its reason.

The type (the ``typ`` header) keeps one kind of token from standing in for another, as
RFC 9068 section 4 requires: an access token must say ``at+jwt``, so that an ID token, which
the provider signs with the same key and whose audience may be the API's (when the API's
audience is the client id), is not taken for one; and an ID token must not say it.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.util import urlsafe_b64decode

from spe.auth.oidc.errors import TokenRejected
from spe.auth.oidc.provider import OpenIdProvider
from spe.messages import Message

Claims = dict[str, Any]

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
"""RFC 9068 section 2.1 (media types compare case-insensitively)."""

CLAIM_REASONS = {
    "iss": Message("wrong issuer"),
    "aud": Message("wrong audience"),
    "iat": Message("issued in the future"),
    "nbf": Message("not yet valid"),
    "sub": Message("invalid subject"),
}


def looks_like_jwt(token: str) -> bool:
    """A compact JWS: three base64url parts (the lead routes such bearer tokens here)."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


class TokenValidator:
    def __init__(self, provider: OpenIdProvider) -> None:
        self.provider = provider
        self.config = provider.config

    def id_token(self, token: str, *, nonce: str) -> Claims:
        """The claims of an ID token issued to spe for the login that sent ``nonce``."""
        claims = self._verified(token, audience=self.config.client_id, access=False)
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.config.client_id:
            raise TokenRejected(Message("wrong authorized party (azp)"))
        if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
            raise TokenRejected(Message("nonce mismatch"))
        return claims

    def access_token(self, token: str) -> Claims:
        """The claims of a JWT access token issued for spe's API (``audience``)."""
        if self.config.audience is None:
            raise TokenRejected(Message("the provider's access tokens are not accepted (no "
                                        "API audience configured)"))
        return self._verified(token, audience=self.config.audience, access=True)

    def userinfo(self, token: str) -> Claims:
        """The claims of a signed userinfo response (``application/jwt``), for spe."""
        return self._verified(token, audience=self.config.client_id, access=False,
                              essential=("sub",))

    def _verified(self, token: str, *, audience: str, access: bool,
                  essential: tuple[str, ...] = ("sub", "exp", "iat")) -> Claims:
        header = _header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenRejected(Message("unsigned token (alg none) refused"))
        if alg.upper().startswith("HS"):
            raise TokenRejected(Message("symmetric signature ({alg}) refused", alg=alg))
        if alg not in self.provider.metadata().signing_algorithms:
            raise TokenRejected(Message("signature algorithm {alg} not advertised by the "
                                        "provider", alg=alg))
        kid = header.get("kid")
        key = self.provider.signing_key(kid if isinstance(kid, str) else None, alg)
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except BadSignatureError as exc:
            raise TokenRejected(Message("bad signature")) from exc
        except (JoseError, ValueError) as exc:
            raise TokenRejected(Message("malformed token")) from exc
        typ = header.get("typ")
        is_access = isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES
        if access and not is_access:
            raise TokenRejected(Message("not an access token (typ must be at+jwt, RFC 9068)"))
        if is_access and not access:
            raise TokenRejected(Message("an access token (typ at+jwt) is not accepted here"))
        registry = jwt.JWTClaimsRegistry(
            leeway=self.config.clock_skew_seconds,
            iss={"essential": True, "value": self.config.issuer},
            aud={"essential": True, "value": audience},
            **{claim: {"essential": True} for claim in essential},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise TokenRejected(Message("expired")) from exc
        except MissingClaimError as exc:
            raise TokenRejected(Message("missing claim {claim}", claim=exc.claim)) from exc
        except ClaimError as exc:
            raise TokenRejected(CLAIM_REASONS.get(
                exc.claim, Message("invalid claim {claim}", claim=exc.claim))) \
                from exc
        return claims


def _header(token: str) -> dict[str, Any]:
    if not isinstance(token, str) or not looks_like_jwt(token):
        raise TokenRejected(Message("malformed token"))
    try:
        header = json.loads(urlsafe_b64decode(token.split(".", 1)[0].encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenRejected(Message("malformed token")) from exc
    if not isinstance(header, dict):
        raise TokenRejected(Message("malformed token"))
    if "crit" in header or "jku" in header or "x5u" in header or "jwk" in header:
        # Keys come from the provider's JWKS only, never from the token itself.
        raise TokenRejected(Message("token header names its own key or critical extensions"))
    return header
