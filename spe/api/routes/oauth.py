"""The control plane as the project hubs' OAuth2/OpenID Connect provider.

Routes here authenticate by the protocol itself (the hub's client secret, the hub's access
token) or by the browser session, as declared on each one.
"""

import base64
import json
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from spe.api import changes
from spe.api.deps import SessionDep, allow_anyone, allow_browser, allow_protocol, commit
from spe.api.platform import HubSigningKeyDep, platform
from spe.auth.hub_clients import HubClient
from spe.auth.hub_provider import FormRequest, HubProvider, Refusal
from spe.domain.principal import Principal
from spe.domain.projects import Project

router = APIRouter(tags=["oauth"])
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
Browser = Annotated[Principal | None, allow_browser()]


def provider(request: Request, session) -> HubProvider:
    root = platform(request)
    return HubProvider(session, root.secret_box, root.hub_signing_key, issuer(request),
                       root.settings.auth.hub_token_ttl_seconds)


def issuer(request: Request) -> str:
    return platform(request).settings.api.public_url.rstrip("/")


def public(request: Request) -> str:
    """The URL the caller used, as the public URL says (TLS ends at the proxy in front)."""
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{issuer(request)}{request.url.path}{query}"


@router.get("/oauth/authorize", summary="Hub login: issue a code to a permitted researcher",
            response_class=RedirectResponse, status_code=303, responses={
                302: {"description": "Back to the hub with a code, or with an OAuth error"},
                303: {"description": "Not signed in: to the sign-in page, then back here"},
                400: {"description": "Unknown client or redirect URI (never redirected)",
                      "content": {"application/json": {"schema": {
                          "$ref": "#/components/schemas/OAuthError"}}}}})
def authorize(request: Request, principal: Browser, session: SessionDep):
    if principal is None:
        target = f"{request.url.path}?{request.url.query}"
        return RedirectResponse(f"/auth/login?next={quote(target, safe='')}", 303)
    client = session.get(HubClient, request.query_params.get("client_id", ""))
    hub = provider(request, session)
    response = hub.authorize(
        FormRequest("GET", public(request), request.headers,
                    dict(request.query_params), {}),
        principal, client.project_id if client else "",
        platform(request).settings.auth.workspace_requires_mfa)
    commit(session)
    if isinstance(response, Refusal):  # spe's page with the reason, not the hub's OAuth error
        target = f"{request.url.path}?{request.url.query}"
        return templates.TemplateResponse(request, "refused.html", {
            "refusal": response, "subject": principal.subject, "audited": True,
            "sign_in": f"/auth/login?next={quote(target, safe='')}"}, status_code=403)
    return response


@router.get("/workspaces/{project_id}/closed", response_class=HTMLResponse,
            summary="Why a workspace is closed to me (where a suspended hub sends browsers)",
            responses={303: {"description": "Not signed in: on to the sign-in page"}})
def closed(project_id: str, request: Request, principal: Browser, session: SessionDep):
    if principal is None:
        return RedirectResponse(f"/auth/login?next={quote(request.url.path, safe='')}", 303)
    hub = provider(request, session)
    refusal = hub.explain(principal, project_id,
                          platform(request).settings.auth.workspace_requires_mfa)
    if refusal is None:  # open again (resumed meanwhile)
        project = session.get(Project, project_id)
        return templates.TemplateResponse(request, "reopened.html", {
            "url": project.workspace_url if project else None})
    return templates.TemplateResponse(request, "refused.html", {
        "refusal": refusal, "subject": principal.subject, "audited": False,
        "sign_in": f"/auth/login?next={quote(request.url.path, safe='')}"}, status_code=403)


@router.post("/oauth/token", summary="Hub: exchange a code (with its PKCE verifier)")
async def token(request: Request, session: SessionDep, _: Annotated[None, allow_protocol(
        "oauth2 client authentication")]):
    form = dict(await request.form())

    def exchange():
        client_id = form.get("client_id") or _basic_client(request)
        with changes.run(session, None, "workspace.token.issue", "hub_client",
                         client_id) as step:
            response = provider(request, session).token(
                FormRequest("POST", public(request), request.headers, {}, form))
            if response.status_code >= 400:  # authlib answers the hub; the refusal is kept
                step.refuse(f"oauth.{_oauth_error(response)}", "the code exchange failed")
        return response

    return await run_in_threadpool(exchange)


def _basic_client(request: Request) -> str | None:
    """The client id of HTTP Basic client authentication, if any (never the secret)."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return unquote(base64.b64decode(value).decode().partition(":")[0])[:200] or None
    except (ValueError, UnicodeDecodeError):
        return None


def _oauth_error(response) -> str:
    try:
        return str(json.loads(response.body).get("error", "error"))[:60]
    except (ValueError, AttributeError):
        return "error"


@router.get("/oauth/userinfo", summary="Hub: who is this token's person, still permitted?")
def userinfo(request: Request, session: SessionDep,
             _: Annotated[None, allow_protocol("hub access token")]):
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        claims, reason = None, "bearer token required"
    else:
        claims, reason = provider(request, session).userinfo(value.strip())
        commit(session)
    if claims is None:
        return JSONResponse({"error": "invalid_token", "error_description": reason}, 401,
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return claims


@router.get("/.well-known/openid-configuration", summary="Provider metadata for the hubs")
def discovery(request: Request, _: Annotated[None, allow_anyone()]) -> dict:
    base = issuer(request)
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/oauth/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                  "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email"],
    }


@router.get("/oauth/jwks", summary="Keys that sign the hubs' ID tokens")
def jwks(key: HubSigningKeyDep, _: Annotated[None, allow_anyone()]) -> dict:
    return {"keys": [key.as_dict(private=False)]}
