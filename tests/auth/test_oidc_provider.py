"""Discovery and keys of the real provider: caching, checks, rotation, refetch limits."""

from __future__ import annotations

import anyio
import httpx
import pytest

from spe.auth.oidc import OpenIdProvider, ProviderUnavailable, TokenRejected, TokenValidator
from tests.servers.oidc import new_signing_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_client() -> tuple[httpx.Client, list[str]]:
    paths: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda r: paths.append(r.url.path)]})
    return client, paths


def test_discovery_is_read_once_and_cached(oidc_provider):
    http, paths = counting_client()
    provider = OpenIdProvider(oidc_provider.config(), http=http)
    metadata = provider.metadata()
    assert provider.metadata() is metadata
    assert paths == ["/.well-known/openid-configuration"]
    assert metadata.issuer == oidc_provider.issuer
    assert metadata.token_endpoint == f"{oidc_provider.issuer}/token"
    assert metadata.end_session_endpoint == f"{oidc_provider.issuer}/session/end"
    assert metadata.signing_algorithms == {"RS256"}


def test_discovery_naming_another_issuer_is_refused(oidc_provider):
    config = oidc_provider.config(issuer=oidc_provider.issuer.replace("127.0.0.1", "localhost"))
    with pytest.raises(ProviderUnavailable, match="names issuer") as caught:
        OpenIdProvider(config).metadata()
    assert caught.value.status == 502


def test_an_unreachable_provider_is_a_502_not_a_crash(oidc_provider):
    with pytest.raises(ProviderUnavailable, match="cannot fetch the provider's discovery"):
        OpenIdProvider(oidc_provider.config(issuer="http://127.0.0.1:9")).metadata()


def test_keys_are_cached_for_their_ttl(oidc_provider):
    http, paths = counting_client()
    clock = Clock()
    provider = OpenIdProvider(oidc_provider.config(jwks_cache_ttl_seconds=600), http=http,
                              clock=clock)
    validator = TokenValidator(provider)
    token = oidc_provider.sign(oidc_provider.claims())
    validator.access_token(token)
    validator.access_token(token)
    assert paths.count("/jwks") == 1
    clock.now += 600
    validator.access_token(token)
    assert paths.count("/jwks") == 2


def test_an_unknown_key_triggers_at_most_one_refetch_per_interval(oidc_provider):
    http, paths = counting_client()
    clock = Clock()
    provider = OpenIdProvider(oidc_provider.config(jwks_min_refetch_seconds=30), http=http,
                              clock=clock)
    validator = TokenValidator(provider)
    validator.access_token(oidc_provider.sign(oidc_provider.claims()))
    clock.now += 30
    forged = oidc_provider.sign(oidc_provider.claims(), key=new_signing_key())
    for _ in range(5):
        with pytest.raises(TokenRejected, match=r"^unknown signing key$"):
            validator.access_token(forged)
    assert paths.count("/jwks") == 2  # the first fetch, then one refetch for the flood
    clock.now += 30
    with pytest.raises(TokenRejected, match=r"^unknown signing key$"):
        validator.access_token(forged)
    assert paths.count("/jwks") == 3


def test_a_token_signed_with_a_rotated_key_is_accepted_after_one_refetch(oidc_provider):
    oidc_provider.set_user("rotation", amr=["otp"])
    http, paths = counting_client()
    validator = TokenValidator(OpenIdProvider(oidc_provider.config(), http=http))
    before = anyio.run(oidc_provider.tokens_for, "rotation")["access_token"]
    validator.access_token(before)
    assert paths.count("/jwks") == 1

    new_key = oidc_provider.rotate_signing_key()
    after = anyio.run(oidc_provider.tokens_for, "rotation")["access_token"]
    assert validator.access_token(after)["sub"] == "rotation"
    assert paths.count("/jwks") == 2
    assert validator.provider.signing_key(new_key.kid, "RS256").kid == new_key.kid
    assert validator.access_token(before)["sub"] == "rotation"  # the old key still published
    assert paths.count("/jwks") == 2
