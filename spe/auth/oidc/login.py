"""Browser login with the authorization code flow, PKCE (S256), state and nonce.

``/auth/login`` keeps a fresh state, nonce and PKCE verifier in the server-side session and
sends the browser to the provider; ``/auth/callback`` accepts only the state it issued, swaps
the code for tokens (client secret and verifier), validates the ID token against that nonce,
checks MFA, moves the session to a new id and hands the :class:`Identity` to ``on_login``,
which the application supplies (create or update the user, mark the session logged in).
``/auth/logout`` forgets the local session and, when the provider has an
``end_session_endpoint``, logs out there too (RP-initiated logout).

Routes are synchronous: FastAPI runs them in its thread pool, so calls to the provider never
block the event loop. Needs :class:`ServerSessionMiddleware` on the application.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from spe.auth.oidc.config import OidcConfig
from spe.auth.oidc.errors import LoginFailed, ProviderUnavailable
from spe.auth.oidc.identity import Identity, identity_from_claims, require_mfa
from spe.auth.oidc.tokens import TokenValidator
from spe.auth.redirects import safe_next
from spe.auth.session_middleware import regenerate_session
from spe.messages import Message

PENDING = "oidc.pending"  # state -> {nonce, verifier, next, redirect_uri}
ID_TOKEN = "oidc.id_token"  # noqa: S105 (a session key): the logout's id_token_hint
MAX_PENDING = 5  # logins started in other tabs that may still come back

OnLogin = Callable[[Identity, Request], None]


def checked_next(value: str | None) -> str:
    """``next`` as a same-origin path, or :class:`LoginFailed` (no open redirect)."""
    target = safe_next(value)
    if target is None:
        raise LoginFailed(Message("next must be a relative path on this site"),
                          code="auth.oidc.bad_next")
    return target


def login_router(validator: TokenValidator, on_login: OnLogin, *,
                 http: httpx.Client | None = None, prefix: str = "/auth",
                 dependencies: Sequence[Any] = ()) -> APIRouter:
    config: OidcConfig = validator.config
    provider = validator.provider
    http = http or httpx.Client(timeout=config.http_timeout_seconds)
    router = APIRouter(prefix=prefix, tags=["auth"], dependencies=list(dependencies))

    @router.get("/login", name="oidc_login")
    def login(request: Request, next: str | None = Query(None)) -> RedirectResponse:
        target = checked_next(next)
        metadata = provider.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        redirect_uri = config.redirect_uri or str(request.url_for("oidc_callback"))
        pending = request.session.get(PENDING, {})
        pending = dict(list(pending.items())[-(MAX_PENDING - 1):])
        pending[state] = {"nonce": nonce, "verifier": verifier, "next": target,
                          "redirect_uri": redirect_uri}
        request.session[PENDING] = pending
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if config.audience:
            params["resource"] = config.audience  # RFC 8707: a JWT access token for the API
        if config.mfa_acr_values and config.request_acr_values:
            params["acr_values"] = " ".join(config.mfa_acr_values)
        params |= config.authorize_params
        return RedirectResponse(add_params_to_uri(metadata.authorization_endpoint, params),
                                status_code=303)

    @router.get("/callback", name="oidc_callback")
    def callback(request: Request, state: str | None = None, code: str | None = None,
                 error: str | None = None, error_description: str | None = None,
                 iss: str | None = None) -> RedirectResponse:
        pending = request.session.get(PENDING, {})
        started = pending.pop(state, None) if state else None
        request.session[PENDING] = pending
        if started is None:
            raise LoginFailed(Message("state mismatch: this login was not started here, or "
                                      "was already completed"), code="auth.oidc.state_mismatch")
        if iss is not None and iss != config.issuer:  # RFC 9207 mix-up defence
            raise LoginFailed(Message("wrong issuer in the authorization response"))
        if error is not None:
            raise LoginFailed(Message("the provider refused the login: {error}{description}",
                                      error=error, description=f" ({error_description})"
                                      if error_description else ""))
        if not code:
            raise LoginFailed(Message("the authorization response has no code"))
        tokens = _exchange(code, started["verifier"], started["redirect_uri"])
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise LoginFailed(Message("the provider returned no ID token"))
        claims = validator.id_token(id_token, nonce=started["nonce"])
        userinfo = _userinfo(tokens.get("access_token")) if config.userinfo else None
        identity = require_mfa(identity_from_claims(claims, config, userinfo), config)
        request.session.pop(PENDING, None)
        request.session[ID_TOKEN] = id_token
        regenerate_session(request)
        on_login(identity, request)
        return RedirectResponse(started["next"], status_code=303)

    @router.get("/logout", name="oidc_logout")
    @router.post("/logout", name="oidc_logout_post", operation_id="oidc_logout_post")
    def logout(request: Request) -> RedirectResponse:
        id_token = request.session.get(ID_TOKEN)
        request.session.clear()
        after = config.post_logout_redirect_uri or str(request.url_for("oidc_login")
                                                       .replace(path="/"))
        try:
            end_session = provider.metadata().end_session_endpoint
        except ProviderUnavailable:
            end_session = None
        if end_session is None:
            return RedirectResponse(after, status_code=303)
        params = {"client_id": config.client_id, "post_logout_redirect_uri": after}
        if id_token:
            params["id_token_hint"] = id_token
        return RedirectResponse(add_params_to_uri(end_session, params), status_code=303)

    def _exchange(code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        endpoint = provider.metadata().token_endpoint
        try:
            response = http.post(endpoint, data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }, auth=(config.client_id, config.client_secret.get_secret_value()),
                headers={"Accept": "application/json"})
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(Message("cannot reach the token endpoint: {exc}",
                                              exc=exc)) from exc
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", response.status_code) if isinstance(body, dict) \
                else response.status_code
            raise LoginFailed(Message("the provider refused the authorization code: {error}",
                                      error=error),
                              code="auth.oidc.code_refused")
        return body

    def _userinfo(access_token: Any) -> dict[str, Any]:
        endpoint = provider.metadata().userinfo_endpoint
        if endpoint is None or not isinstance(access_token, str):
            raise LoginFailed(Message("userinfo is configured but the provider gave no "
                                      "userinfo endpoint or no access token"))
        try:
            response = http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(Message("cannot reach the userinfo endpoint: {exc}",
                                              exc=exc)) from exc
        if response.status_code != 200:
            raise LoginFailed(Message("the provider refused the userinfo request "
                                      "({status_code})", status_code=response.status_code),
                              code="auth.oidc.userinfo_refused")
        if response.headers.get("content-type", "").startswith("application/jwt"):
            return validator.userinfo(response.text.strip())
        try:
            body = response.json()
        except ValueError as exc:
            raise LoginFailed(Message("the userinfo response is not JSON")) from exc
        if not isinstance(body, dict):
            raise LoginFailed(Message("the userinfo response is not a JSON object"))
        return body

    return router
