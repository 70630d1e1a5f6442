"""The control plane as the project hubs' OAuth2/OpenID Connect provider (authlib, server side).

A hub sends the person here (authorization code flow with PKCE S256). A code is issued only
if the person is signed in to spe, has satisfied MFA when required, holds the researcher
role, is named in the project's permit, and the permit is active now. Every refusal is
audited. Access tokens are short-lived (``hub_token_ttl_seconds``) and the userinfo endpoint
re-checks the permit on every call, so revoking or suspending a permit, or removing the
person from it, stops a hub's refresh of that person within one token lifetime.

A refused person is not sent back to the hub with ``access_denied`` (JupyterHub would show
"400 : OAuth error"): :meth:`HubProvider.authorize` returns a :class:`Refusal`, and the route
shows spe's page with the reason and whom to ask.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select
from starlette.responses import JSONResponse, Response

from spe.audit import Actor, record
from spe.auth.hub_clients import HubClient
from spe.crypto.secretbox import SecretBox
from spe.db.types import UTCDateTime, utcnow
from spe.domain import access
from spe.domain.principal import Principal
from spe.domain.users import User, roles_of

CODE_LIFETIME = timedelta(minutes=2)


@dataclass(frozen=True)
class Refusal:
    """Why a person may not enter a project's workspace, and what they can do about it.

    The permit's reference, status and contacts are shown only to the people it names: to
    anyone else the project stays invisible."""

    reason: str
    advice: str
    permit_reference: str | None = None
    principal_investigator: str | None = None
    issuer: str | None = None
    sign_in_again: bool = False


class HubAuthCode(SQLModel, table=True):
    __tablename__ = "hub_auth_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=40, index=True)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE")
    redirect_uri: str = Field(max_length=500)
    scope: str = Field(default="", max_length=200)
    nonce: str | None = Field(default=None, max_length=200)
    code_challenge: str = Field(max_length=200)
    code_challenge_method: str = Field(max_length=10)
    mfa: bool = False
    auth_time: int = 0
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    # authlib's AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return ["mfa"] if self.mfa else None


class HubToken(SQLModel, table=True):
    __tablename__ = "hub_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=40, index=True)
    project_id: str = Field(max_length=20, index=True)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE")
    scope: str = Field(default="", max_length=200)
    claims: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class S256Challenge(CodeChallenge):
    """PKCE with S256 only: ``plain`` offers no protection against an intercepted code."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class ClientAdapter:
    """authlib's ClientMixin over a :class:`HubClient` row."""

    row: HubClient
    box: SecretBox

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in {"openid", "profile", "email"})

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.row.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.box.open(self.row.secret_sealed)
        return hmac.compare_digest(client_secret.encode(), expected.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class HubProvider:
    """Everything the OAuth routes need, for one request's database session."""

    def __init__(self, session: Session, box: SecretBox, signing_key: RSAKey, issuer: str,
                 token_ttl: int) -> None:
        self.session, self.box, self.key, self.issuer = session, box, signing_key, issuer
        self.token_ttl = token_ttl
        self.server = self._build_server()

    # --- the decision, written once (spe.domain.access) --------------------------------
    def refusal(self, principal: Principal, project_id: str,
                require_mfa: bool) -> access.Refused | None:
        """Why ``principal`` may not enter ``project_id``'s hub now, or None if they may."""
        return access.refusal(self.session, principal, project_id, require_mfa=require_mfa)

    # --- authlib wiring ----------------------------------------------------------------
    def _build_server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id):
                row = provider.session.get(HubClient, client_id)
                return ClientAdapter(row, provider.box) if row else None

            def save_token(self, token, request):
                code: HubAuthCode = request.authorization_code
                client: ClientAdapter = request.client
                provider.session.add(HubToken(
                    token_hash=_hash(token["access_token"]), client_id=client.get_client_id(),
                    project_id=client.row.project_id, user_id=request.user.id,
                    scope=token.get("scope", ""), claims={"mfa": code.mfa},
                    expires_at=utcnow() + timedelta(seconds=token["expires_in"])))
                record(provider.session, action="workspace.token.issue",
                       actor=Actor.component(f"hub:{client.row.project_id}"),
                       target_type="user", target_id=request.user.id,
                       project_id=client.row.project_id,
                       details={"expires_in": token["expires_in"]})

            def create_oauth2_request(self, request):
                return request

            def handle_response(self, status, body, headers):
                if isinstance(body, dict):
                    return JSONResponse(body, status, headers=dict(headers))
                return Response(body, status, headers=dict(headers))

            def send_signal(self, name, *args, **kwargs):
                return None

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def validate_authorization_request(self):
                redirect_uri = super().validate_authorization_request()
                if not self.request.payload.data.get("code_challenge"):
                    raise InvalidRequestError("PKCE is required: code_challenge with S256",
                                              redirect_uri=redirect_uri,
                                              state=self.request.payload.state)
                return redirect_uri

            def save_authorization_code(self, code, request):
                challenge = request.payload.data.get("code_challenge")
                provider.session.add(HubAuthCode(
                    code_hash=_hash(code), client_id=request.client.get_client_id(),
                    user_id=request.user.id, redirect_uri=request.payload.redirect_uri,
                    scope=request.payload.scope or "", nonce=request.payload.data.get("nonce"),
                    code_challenge=challenge,
                    code_challenge_method=request.payload.data.get("code_challenge_method",
                                                                   "plain"),
                    mfa=getattr(request, "spe_mfa", False), auth_time=int(time.time()),
                    expires_at=utcnow() + CODE_LIFETIME))

            def query_authorization_code(self, code, client):
                row = provider.session.get(HubAuthCode, _hash(code))
                if row and row.client_id == client.get_client_id() and \
                        row.expires_at > utcnow():
                    return row
                return None

            def delete_authorization_code(self, authorization_code):
                provider.session.delete(authorization_code)

            def authenticate_user(self, authorization_code):
                return provider.session.get(User, authorization_code.user_id)

        class HubOpenIDCode(OpenIDCode):
            def resolve_client_private_key(self, client):
                return provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": provider.key.kid}

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [client.get_client_id()],
                        "exp": int(time.time()) + provider.token_ttl}

            def exists_nonce(self, nonce, request):
                return provider.session.exec(select(HubAuthCode.code_hash).where(
                    HubAuthCode.client_id == request.payload.client_id,
                    HubAuthCode.nonce == nonce)).first() is not None

            def generate_user_info(self, user, scope):
                return provider.user_info(user, None)

        server = Server()
        server.register_token_generator("default", BearerTokenGenerator(
            lambda *a, **k: secrets.token_urlsafe(32), None,
            lambda client, grant_type: provider.token_ttl))
        server.register_grant(CodeGrant, [S256Challenge(required=True),
                                          HubOpenIDCode(require_nonce=False)])
        return server

    def user_info(self, user: User, project_id: str | None) -> UserInfo:
        info = UserInfo(sub=user.subject, name=user.display_name or user.subject,
                        preferred_username=user.subject)
        if user.email:
            info["email"] = user.email
        if project_id:
            info["project"] = project_id
        return info

    # --- the three endpoints --------------------------------------------------------------
    def authorize(self, request: OAuth2Request, principal: Principal, project_id: str,
                  require_mfa: bool) -> Response | Refusal:
        """A code for the hub, an OAuth error for a malformed request, or the refusal to
        show the person."""
        refused = self.refusal(principal, project_id, require_mfa)
        record(self.session, action="workspace.authorize", actor=principal.actor(),
               outcome="denied" if refused else "success", target_type="project",
               target_id=project_id, project_id=project_id,
               details={"reason": refused.reason} if refused else {})
        if refused:
            return self._refusal(refused)
        user = self.session.get(User, principal.user_id)
        request.spe_mfa = principal.mfa
        try:
            grant = self.server.get_authorization_grant(request)
            return self.server.create_authorization_response(request, grant_user=user,
                                                             grant=grant)
        except OAuth2Error as error:
            error.state = request.payload.state
            return self.server.handle_error_response(request, error)

    def explain(self, principal: Principal, project_id: str,
                require_mfa: bool) -> Refusal | None:
        """The refusal to show ``principal`` for ``project_id`` now, or None if they may
        enter (not audited: a page, not a login)."""
        refused = self.refusal(principal, project_id, require_mfa)
        return self._refusal(refused) if refused else None

    @staticmethod
    def _refusal(refused: access.Refused) -> Refusal:
        reason, permit = refused.reason, refused.permit
        if refused.why is access.Why.mfa:
            return Refusal(reason, "Sign in to spe again with your institution's second "
                           "factor, then open the workspace again.", sign_in_again=True)
        if refused.why is access.Why.not_researcher:
            return Refusal(reason, "Workspaces are for researchers: ask your spe administrator "
                           "for the researcher role if you should have it.")
        if permit is None:  # not named, no such project, not a person
            return Refusal("you are not named in this project's permit",
                           "Only the people a data permit names may enter its workspace. If "
                           "you should be one of them, ask the project's principal "
                           "investigator to have the permit amended by the data access body.")
        return Refusal(reason, "The workspace is closed while the permit is not active; your "
                       "data and files are kept unless it is revoked. Ask the principal "
                       "investigator or the data access body that granted the permit.",
                       permit.reference, permit.principal_investigator, permit.issuer)

    def token(self, request: OAuth2Request) -> Response:
        try:
            return self.server.create_token_response(request)
        except OAuth2Error as error:  # raised before authlib's own handling (e.g. transport)
            return self.server.handle_error_response(request, error)

    def userinfo(self, access_token: str) -> tuple[dict | None, str | None]:
        """(claims, None) for a hub's live token whose person is still permitted, else
        (None, reason); a refusal for a known token is audited."""
        row = self.session.get(HubToken, _hash(access_token))
        if row is None or row.expires_at <= utcnow():
            return None, "token unknown or expired"
        user = self.session.get(User, row.user_id)
        principal = Principal(user_id=user.id, subject=user.subject,
                              roles=frozenset(roles_of(self.session, user.id)), via="hub",
                              mfa=bool(row.claims.get("mfa")))
        refused = self.refusal(principal, row.project_id, require_mfa=False)
        if refused:
            record(self.session, action="workspace.refresh", actor=principal.actor(),
                   outcome="denied", target_type="project", target_id=row.project_id,
                   project_id=row.project_id, details={"reason": refused.reason})
            return None, refused.reason
        return dict(self.user_info(user, row.project_id)), None

class FormRequest(OAuth2Request):
    """An OAuth2 request from already-parsed query and form parameters."""

    def __init__(self, method: str, url: str, headers, query: dict, form: dict) -> None:
        super().__init__(method, url, headers=headers)
        self._args, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict:
        return self._args

    @property
    def form(self) -> dict:
        return self._form
