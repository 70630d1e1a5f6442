"""Token validation against the real provider's discovery document and keys; the bad tokens
are forged with the provider's own signing key, each with exactly one thing wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from spe.auth.oidc import OpenIdProvider, TokenRejected, TokenValidator, looks_like_jwt
from tests.servers.oidc import new_signing_key


@pytest.fixture
def validator(oidc_provider) -> TokenValidator:
    return TokenValidator(OpenIdProvider(oidc_provider.config()))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def rejected(validator: TokenValidator, token: str) -> str:
    with pytest.raises(TokenRejected) as caught:
        validator.access_token(token)
    assert caught.value.status == 401
    return caught.value.message


def test_a_well_formed_access_token_is_accepted(oidc_provider, validator):
    claims = validator.access_token(oidc_provider.sign(oidc_provider.claims()))
    assert claims["sub"] == "alice"


@pytest.mark.parametrize(("change", "reason"), [
    ({"iss": "http://127.0.0.1:1"}, "wrong issuer"),
    ({"aud": "https://other-api.example"}, "wrong audience"),
    ({"aud": ["https://other-api.example", "spe-control-plane"]}, "wrong audience"),
    ({"exp": int(time.time()) - 120}, "expired"),
    ({"iat": int(time.time()) + 3600}, "issued in the future"),
    ({"nbf": int(time.time()) + 3600}, "not yet valid"),
    ({"sub": None}, "missing claim sub"),
    ({"exp": None}, "missing claim exp"),
])
def test_each_wrong_claim_is_refused_with_its_reason(oidc_provider, validator, change, reason):
    claims = {k: v for k, v in {**oidc_provider.claims(), **change}.items() if v is not None}
    assert rejected(validator, oidc_provider.sign(claims)) == reason


def test_expiry_allows_the_configured_clock_skew(oidc_provider):
    lenient = TokenValidator(OpenIdProvider(oidc_provider.config(clock_skew_seconds=120)))
    claims = oidc_provider.claims(exp=int(time.time()) - 60)
    assert lenient.access_token(oidc_provider.sign(claims))["sub"] == "alice"


def test_an_unsigned_token_is_refused(oidc_provider, validator):
    for alg, signature in (("none", ""), ("None", ""), ("NONE", "c2ln"), (None, "")):
        header = {"alg": alg, "typ": "JWT"} if alg else {"typ": "JWT"}
        token = f"{b64(header)}.{b64(oidc_provider.claims())}.{signature}"
        assert looks_like_jwt(token)
        assert rejected(validator, token) == "unsigned token (alg none) refused"


def test_a_token_signed_with_hmac_over_the_public_key_is_refused(oidc_provider, validator):
    # the classic key-confusion attack (joserfc itself refuses to build this token)
    public_pem = oidc_provider.signing_key.as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'kid': oidc_provider.signing_key.kid})}." \
                    f"{b64(oidc_provider.claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert rejected(validator, token) == "symmetric signature (HS256) refused"


def test_an_algorithm_the_provider_does_not_advertise_is_refused(oidc_provider, validator):
    key = ECKey.generate_key("P-256")
    token = jwt.encode({"alg": "ES256", "kid": oidc_provider.signing_key.kid},
                       oidc_provider.claims(), key)
    assert rejected(validator, token) == "signature algorithm ES256 not advertised by the " \
                                         "provider"


def test_a_token_signed_by_an_unknown_key_is_refused(oidc_provider, validator):
    assert rejected(validator, oidc_provider.sign(oidc_provider.claims(),
                                                  key=new_signing_key())) == "unknown signing key"


def test_a_forged_signature_under_a_known_kid_is_refused(oidc_provider, validator):
    stranger = new_signing_key()
    token = jwt.encode({"alg": "RS256", "kid": oidc_provider.signing_key.kid},
                       oidc_provider.claims(), stranger)
    assert rejected(validator, token) == "bad signature"


def test_a_token_naming_its_own_key_is_refused(oidc_provider, validator):
    stranger = new_signing_key()
    token = oidc_provider.sign(oidc_provider.claims(), key=stranger,
                               jwk=stranger.as_dict(private=False))
    assert rejected(validator, token) == "token header names its own key or critical extensions"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "!!.!!.!!", f"{b64([1])}.e30.x"])
def test_garbage_is_a_malformed_token(validator, token):
    assert rejected(validator, token) == "malformed token"


def test_id_token_needs_the_nonce_of_its_login(oidc_provider, validator):
    claims = oidc_provider.claims(aud=oidc_provider.client_id, nonce="n-1")
    assert validator.id_token(oidc_provider.sign(claims, typ="JWT"), nonce="n-1")["nonce"] == "n-1"
    for wrong in ({"nonce": "n-2"}, {"nonce": None}):
        forged = {k: v for k, v in {**claims, **wrong}.items() if v is not None}
        with pytest.raises(TokenRejected, match=r"^nonce mismatch$"):
            validator.id_token(oidc_provider.sign(forged, typ=None), nonce="n-1")


def test_id_token_is_for_this_client_only(oidc_provider, validator):
    access = oidc_provider.claims(nonce="n")
    with pytest.raises(TokenRejected, match=r"^wrong audience$"):
        validator.id_token(oidc_provider.sign(access, typ=None), nonce="n")
    shared = oidc_provider.claims(aud=[oidc_provider.client_id, "other"], nonce="n")
    with pytest.raises(TokenRejected, match=r"^wrong authorized party \(azp\)$"):
        validator.id_token(oidc_provider.sign(shared, typ=None), nonce="n")
    shared["azp"] = oidc_provider.client_id
    assert validator.id_token(oidc_provider.sign(shared, typ=None), nonce="n")["sub"] == "alice"


def test_access_tokens_are_refused_without_an_api_audience(oidc_provider):
    validator = TokenValidator(OpenIdProvider(oidc_provider.config(audience=None)))
    with pytest.raises(TokenRejected, match="no API audience configured"):
        validator.access_token(oidc_provider.sign(oidc_provider.claims()))


def test_an_id_token_is_not_an_access_token_even_for_the_same_audience(oidc_provider,
                                                                       validator):
    """RFC 9068: an ID token whose audience is the API's (issued to a client registered
    under the API's identifier, or listing it), signed by the same provider with the same
    key, must still be refused as an access token; and an access token as an ID token."""
    claims = oidc_provider.claims(nonce="n", azp=oidc_provider.audience)
    for typ in (None, "JWT", "application/jwt"):
        with pytest.raises(TokenRejected, match=r"^not an access token \(typ must be at"):
            validator.access_token(oidc_provider.sign(claims, typ=typ))
    for typ in ("at+jwt", "AT+JWT", "application/at+jwt"):
        assert validator.access_token(oidc_provider.sign(claims, typ=typ))["sub"] == "alice"
    as_id = oidc_provider.claims(aud=oidc_provider.client_id, nonce="n")
    with pytest.raises(TokenRejected, match=r"access token .* not accepted here"):
        validator.id_token(oidc_provider.sign(as_id), nonce="n")


def test_the_real_provider_issues_typed_access_tokens_and_untyped_id_tokens(oidc_provider,
                                                                           validator):
    import anyio

    oidc_provider.set_user("typed")
    tokens = anyio.run(oidc_provider.tokens_for, "typed")
    assert validator.access_token(tokens["access_token"])["sub"] == "typed"
    with pytest.raises(TokenRejected, match="not an access token"):
        validator.access_token(tokens["id_token"])
