"""Release manifests: signed over their RFC 8785 bytes, stored as exactly those bytes, and
verified with a pinned key; releases of the first format still verify."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785

from egress.release import (
    MANIFEST_FORMAT,
    ReleasedFile,
    build_manifest,
    manifest_bytes,
    sign_manifest,
    verify_manifest,
    verify_manifest_bytes,
)
from spe.airlock.publish import publish
from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SignatureError, SigningKey, public_key_pem
from spe.storage.layout import quarantine_key, release_prefix
from spe.storage.local import LocalObjectStore

CONTENT = "région,effectif\nÎle-de-France,205\n".encode()


@pytest.fixture
def key(tmp_path) -> SigningKey:
    return SigningKey.load_or_create(tmp_path / "release.pem")


def manifest(**overrides) -> dict:
    digest = hashlib.sha256(CONTENT).hexdigest()
    return {**build_manifest(
        release_id="r-1", request_id="q-1", project_id="p-1", title="Effectifs «régionaux»",
        permit_reference="PERMIT-1", permit_id="pm-1", pack_name="snds", pack_version="1.0.0",
        requester="alice", released_by="bob", released_at="2026-01-02T03:04:05+00:00",
        files=[ReleasedFile(id="f1", name="table.csv", sha256=digest, size=len(CONTENT),
                            description="counts ≥ 11", check={"outcome": "pass",
                                                              "ratio": 0.1, "n": 1e21},
                            votes=[])]), **overrides}


def test_the_stored_manifest_is_the_rfc8785_bytes_signed(tmp_path, key):
    store = LocalObjectStore(tmp_path / "objects")
    body = manifest()
    store.put_bytes(quarantine_key("p-1", body["files"][0]["sha256"]), CONTENT)

    signature = publish(store, key, body, crate={})

    stored = store.get_bytes(f"{release_prefix('p-1', 'r-1')}manifest.json")
    assert stored == rfc8785.dumps(body) == manifest_bytes(body)
    assert body["format"] == MANIFEST_FORMAT == "spe-egress-release/2"
    pem = public_key_pem(key.public_key)
    assert verify_manifest_bytes(stored, signature, pem) == body
    sig_file = store.get_bytes(f"{release_prefix('p-1', 'r-1')}manifest.sig").decode()
    assert sig_file == f"{key.key_id} {signature}\n"
    # the API returns the manifest parsed: JCS gives the signed bytes back from it
    verify_manifest(json.loads(json.dumps(body, indent=3)), signature, pem)


def test_other_bytes_of_the_same_manifest_do_not_verify(key):
    body = manifest()
    signature = sign_manifest(body, key)
    pem = public_key_pem(key.public_key)
    pretty = json.dumps(body, indent=2).encode()
    with pytest.raises(SignatureError, match="does not verify"):
        verify_manifest_bytes(pretty, signature, pem)
    ascii_escaped = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert json.loads(ascii_escaped) == body
    with pytest.raises(SignatureError):
        verify_manifest_bytes(ascii_escaped, signature, pem)
    # signed, but not canonical: refused all the same (a verifier must not need to guess)
    with pytest.raises(SignatureError, match="not in the canonical encoding"):
        verify_manifest_bytes(pretty, key.sign(pretty), pem)


def test_only_the_pinned_key_verifies(tmp_path, key):
    body = manifest()
    signature = sign_manifest(body, key)
    impostor = SigningKey.load_or_create(tmp_path / "impostor.pem")
    with pytest.raises(SignatureError):
        verify_manifest(body, signature, public_key_pem(impostor.public_key))
    with pytest.raises(SignatureError):
        verify_manifest({**body, "title": "forged"}, signature, public_key_pem(key.public_key))


def test_a_release_of_the_first_format_still_verifies(key):
    """Format 1 was signed over spe's own canonical JSON; it verifies under that encoding,
    and not under another format's."""
    old = manifest(format="spe-egress-release/1")
    signature = key.sign(canonical_json(old))
    pem = public_key_pem(key.public_key)
    verify_manifest(old, signature, pem)
    assert verify_manifest_bytes(canonical_json(old), signature, pem) == old
    with pytest.raises(SignatureError):
        verify_manifest({**old, "format": MANIFEST_FORMAT}, signature, pem)
    with pytest.raises(SignatureError, match="known format"):
        verify_manifest({**old, "format": "spe-egress-release/9"}, signature, pem)
