"""A real OpenID provider for the test run: panva's ``oidc-provider`` on node (tests/servers/oidc/).

Started once per run, only when a test asks for ``oidc_provider``, on a free 127.0.0.1 port
over plain HTTP (loopback only: oidc-provider accepts an ``http://`` issuer, and spe's
client accepts it because the tests configure that issuer explicitly), and always stopped.

The fixture owns the provider's signing keys (RSA JWKs generated here), so tests can also
forge tokens with the provider's real key and exactly one thing wrong. Users live in a JSON
file read at every login: ``set_user`` changes a person's claims for the next login.
``rotate_signing_key`` restarts the provider on the same port with a new key first in its
JWKS (tokens are then signed with it; the old key stays published), as a provider rotates.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from spe.auth.oidc import OidcConfig

PROJECT = Path(__file__).parent / "oidc"
CLIENT_ID = "spe-control-plane"
SIGNED_USERINFO_CLIENT_ID = "spe-signed-userinfo"  # as ProConnect: userinfo is a signed JWT
RP_BASE_URL = "http://spe.test"
API_AUDIENCE = "https://api.spe.test"
API_SCOPE = "spe"
ACR_VALUES = ["urn:spe:loa:low", "urn:spe:loa:substantial", "urn:spe:loa:high"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_node_modules() -> None:
    if shutil.which("node") is None:
        raise RuntimeError("node is not installed: run scripts/test.sh (apt nodejs)")
    if not (PROJECT / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=PROJECT,
                       check=True, capture_output=True, timeout=300)


def new_signing_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"})
    key.ensure_kid()
    return key


@dataclass
class OidcTestProvider:
    """The running provider, with the knobs the tests turn."""

    root: Path
    port: int
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    keys: list[RSAKey] = field(default_factory=lambda: [new_signing_key()])
    users: dict[str, dict] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    client_id: str = CLIENT_ID
    rp_base_url: str = RP_BASE_URL
    audience: str = API_AUDIENCE
    api_scope: str = API_SCOPE
    acr_values: tuple[str, ...] = tuple(ACR_VALUES)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.rp_base_url}/auth/callback"

    @property
    def signing_key(self) -> RSAKey:
        """The key the provider currently signs with (first in its JWKS)."""
        return self.keys[0]

    def set_user(self, login: str, *, sub: str | None = None, name: str = "Test Person",
                 email: str | None = None, groups: list[str] | None = None,
                 acr: str | None = None, amr: list[str] | None = None) -> None:
        """Create or replace a person; the next login with ``login`` gets these claims."""
        self.users[login] = {"sub": sub or login, "name": name,
                             "email": email or f"{login}@example.org",
                             "groups": groups or [], "acr": acr, "amr": amr}
        self._write_users()

    def rotate_signing_key(self) -> RSAKey:
        """Publish a new key and sign with it from now on (restarts node on the same port)."""
        self.keys.insert(0, new_signing_key())
        self.stop()
        self.start()
        return self.signing_key

    def config(self, **overrides) -> OidcConfig:
        """spe's settings for this provider (MFA by ``otp``), with ``overrides``."""
        values = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scopes": ["openid", "profile", "email", "groups", self.api_scope],
            "audience": self.audience,
            "redirect_uri": self.redirect_uri,
            "post_logout_redirect_uri": f"{self.rp_base_url}/",
            "mfa_amr_methods": ["otp"],
            "jwks_min_refetch_seconds": 0,
        }
        return OidcConfig(_env_file=None, **{**values, **overrides})

    def claims(self, sub: str = "alice", **overrides) -> dict:
        """Valid access-token claims for ``sub``, to forge tokens with one thing wrong."""
        now = int(time.time())
        return {"iss": self.issuer, "aud": self.audience, "sub": sub, "iat": now,
                "exp": now + 300, "amr": ["pwd", "otp"], **overrides}

    def sign(self, claims: dict, *, key: RSAKey | None = None, typ: str | None = "at+jwt",
             **header) -> str:
        """A JWT signed with the provider's current key (or ``key``); an access token
        (``typ: at+jwt``, RFC 9068) unless ``typ`` says otherwise (None: no ``typ``)."""
        key = key or self.signing_key
        typed = {"typ": typ} if typ else {}
        return jwt.encode({"alg": "RS256", "kid": key.kid, **typed, **header}, claims, key)

    async def browser_login(self, client: httpx.AsyncClient, response: httpx.Response,
                            login: str) -> httpx.Response:
        """Act as the person's browser at the provider: from ``response``, follow redirects
        and submit the sign-in and consent forms; returns the first response that is
        neither (the redirect back to spe, not followed, or the provider's error page)."""
        for _ in range(12):
            step = self._next_step(response, login)
            if step is None:
                return response
            method, url, fields = step
            response = await (client.get(url) if method == "GET"
                              else client.post(url, data=fields))
        raise AssertionError("the login went round in circles")

    def follow_login(self, client: httpx.Client, response: httpx.Response,
                     login: str) -> httpx.Response:
        """:meth:`browser_login` for a synchronous client."""
        for _ in range(12):
            step = self._next_step(response, login)
            if step is None:
                return response
            method, url, fields = step
            response = client.get(url) if method == "GET" else client.post(url, data=fields)
        raise AssertionError("the login went round in circles")

    def _next_step(self, response: httpx.Response, login: str):
        if response.is_redirect:
            location = response.url.join(response.headers["location"])
            if str(location).startswith(self.rp_base_url):
                return None
            return "GET", location, None
        if response.status_code == 200 and "<form" in response.text:
            action = re.search(r'<form method="post" action="([^"]+)"', response.text)
            fields = {"login": login} if 'name="login"' in response.text else {}
            return "POST", response.url.join(action.group(1)), fields
        return None

    async def authorize(self, client: httpx.AsyncClient, login: str, *,
                        verifier: str | None, **params: str) -> httpx.Response:
        """An authorization request straight to the provider (as a command-line client
        would), with PKCE when ``verifier`` is given; returns as :meth:`browser_login`."""
        query = {"client_id": self.client_id, "response_type": "code",
                 "redirect_uri": self.redirect_uri, "resource": self.audience,
                 "scope": f"openid profile email groups {self.api_scope}",
                 "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8)}
        if verifier is not None:
            query |= {"code_challenge": create_s256_code_challenge(verifier),
                      "code_challenge_method": "S256"}
        response = await client.get(f"{self.issuer}/auth", params=query | params)
        return await self.browser_login(client, response, login)

    async def redeem(self, client: httpx.AsyncClient, code: str,
                     verifier: str | None) -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri}
        if verifier is not None:
            data["code_verifier"] = verifier
        return await client.post(f"{self.issuer}/token", data=data,
                                 auth=(self.client_id, self.client_secret))

    async def tokens_for(self, login: str) -> dict:
        """The token response of a complete code flow with PKCE for ``login``."""
        verifier = secrets.token_urlsafe(48)
        async with httpx.AsyncClient() as client:
            back = await self.authorize(client, login, verifier=verifier)
            code = httpx.URL(back.headers["location"]).params["code"]
            response = await self.redeem(client, code, verifier)
        response.raise_for_status()
        return response.json()

    def _write_users(self) -> None:
        tmp = self.root / "users.json.tmp"
        tmp.write_text(json.dumps(self.users))
        tmp.replace(self.root / "users.json")

    def _write_config(self) -> Path:
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "usersFile": str(self.root / "users.json"),
            "jwks": {"keys": [k.as_dict(private=True) for k in self.keys]},
            "cookieKeys": [secrets.token_urlsafe(32)],
            "resource": self.audience,
            "resourceScope": self.api_scope,
            "acrValues": list(self.acr_values),
            "clients": [{
                "client_id": client_id,
                "client_secret": self.client_secret,
                "redirect_uris": [self.redirect_uri, f"{self.rp_base_url}/auth/oidc/callback"],
                "post_logout_redirect_uris": [f"{self.rp_base_url}/"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "client_secret_basic",
                **extra,
            } for client_id, extra in (
                (self.client_id, {}),
                (SIGNED_USERINFO_CLIENT_ID, {"userinfo_signed_response_alg": "RS256"}),
            )],
        }
        path = self.root / "config.json"
        path.write_text(json.dumps(config))
        return path

    def start(self) -> None:
        self._write_users()
        config = self._write_config()
        log = (self.root / "node.log").open("ab")
        self.process = subprocess.Popen(["node", str(PROJECT / "server.js"), str(config)],
                                        cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 30
        url = f"{self.issuer}/.well-known/openid-configuration"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {self.log_tail()}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"oidc-provider did not start: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        path = self.root / "node.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcTestProvider]:
    _ensure_node_modules()
    provider = OidcTestProvider(root=Path(tempfile.mkdtemp(prefix="spe-oidc-")),
                                port=_free_port())
    try:
        provider.start()
        yield provider
    finally:
        provider.stop()
        shutil.rmtree(provider.root, ignore_errors=True)
