"""The provider as spe sees it: its discovery document and its signing keys, cached.

Keys rotate: a token whose ``kid`` is not in the cached JWKS triggers one refetch, at most
every ``jwks_min_refetch_seconds`` (so a flood of forged tokens cannot make spe hammer the
provider), and is refused if the key is still unknown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

from spe.auth.oidc.config import OidcConfig
from spe.auth.oidc.errors import ProviderUnavailable, TokenRejected
from spe.messages import Message

REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document spe uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    userinfo_endpoint: str | None
    signing_algorithms: frozenset[str]

    @classmethod
    def from_document(cls, doc: dict[str, Any], expected_issuer: str) -> ProviderMetadata:
        missing = [name for name in REQUIRED_METADATA if not isinstance(doc.get(name), str)]
        if missing:
            raise ProviderUnavailable(Message("discovery document lacks {missing}",
                                              missing=', '.join(missing)))
        if doc["issuer"] != expected_issuer:
            raise ProviderUnavailable(Message("discovery document names issuer {doc!r}, not "
                                              "the configured {expected_issuer!r}",
                                              doc=doc['issuer'], expected_issuer=expected_issuer))
        algorithms = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        return cls(issuer=doc["issuer"],
                   authorization_endpoint=doc["authorization_endpoint"],
                   token_endpoint=doc["token_endpoint"],
                   jwks_uri=doc["jwks_uri"],
                   end_session_endpoint=doc.get("end_session_endpoint"),
                   userinfo_endpoint=doc.get("userinfo_endpoint"),
                   signing_algorithms=frozenset(algorithms))


class OpenIdProvider:
    """Discovery and JWKS of one issuer, safe to share between threads."""

    def __init__(self, config: OidcConfig, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._http = http or httpx.Client(timeout=config.http_timeout_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    @property
    def discovery_url(self) -> str:
        return self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def metadata(self) -> ProviderMetadata:
        with self._lock:
            if self._metadata is None or self._stale(self._metadata_at):
                doc = self._get_json(self.discovery_url, "discovery document")
                self._metadata = ProviderMetadata.from_document(doc, self.config.issuer)
                self._metadata_at = self._clock()
            return self._metadata

    def signing_key(self, kid: str | None, alg: str) -> Key:
        """The provider's key for a token header; refetches once for an unknown ``kid``."""
        jwks_uri = self.metadata().jwks_uri
        with self._lock:
            if self._keys is None or self._stale(self._keys_at):
                self._fetch_keys(jwks_uri)
            key = self._find(kid, alg)
            if key is None and self._clock() - self._keys_at >= \
                    self.config.jwks_min_refetch_seconds:
                self._fetch_keys(jwks_uri)
                key = self._find(kid, alg)
        if key is None:
            raise TokenRejected(Message("unknown signing key"))
        return key

    def _stale(self, fetched_at: float) -> bool:
        return self._clock() - fetched_at >= self.config.jwks_cache_ttl_seconds

    def _fetch_keys(self, jwks_uri: str) -> None:
        doc = self._get_json(jwks_uri, "JWKS")
        usable = [k for k in doc.get("keys", []) if isinstance(k, dict)
                  and k.get("use", "sig") == "sig" and k.get("kty") != "oct"]
        try:
            self._keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError) as exc:
            raise ProviderUnavailable(Message("the provider's JWKS is invalid: {exc}",
                                              exc=exc)) from exc
        self._keys_at = self._clock()

    def _find(self, kid: str | None, alg: str) -> Key | None:
        assert self._keys is not None
        candidates = [k for k in self._keys.keys
                      if k.get("alg") in (None, alg) and (kid is None or k.kid == kid)]
        # Without a kid a token is only matched when the choice is unambiguous.
        return candidates[0] if len(candidates) == 1 else None

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(Message("cannot fetch the provider's {what}: {exc}",
                                              what=what, exc=exc)) from exc
        if not isinstance(doc, dict):
            raise ProviderUnavailable(Message("the provider's {what} is not a JSON object",
                                              what=what))
        return doc
