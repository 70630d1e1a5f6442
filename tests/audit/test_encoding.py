"""Encoding versions 3 and 2: known vectors written out byte by byte, what must not collide,
and the strict sizes that keep bytes from moving between a leaf's fields."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from spe.audit import encoding, merkle

FIELDS = {"seq": 1, "ts": "2025-01-02T03:04:05.000006Z", "actor_type": "user", "actor_id": "é",
          "actor_role": None, "action": "a.b", "target_type": None, "target_id": "",
          "project_id": None, "outcome": "success", "request_id": None, "trace_id": None,
          "client_addr": None, "details": {"b": 1, "a": "x"}}
BODY = (b"\x03" + b"\x00" * 7 + b"\x01"  # version, seq
        + bytes.fromhex("0000001b 00000004 00000002 ffffffff 00000003 ffffffff 00000000"
                        "ffffffff 00000007 ffffffff ffffffff ffffffff 0000000f")  # lengths
        + b"2025-01-02T03:04:05.000006Z" + b"user" + "é".encode() + b"a.b" + b"success"
        + b'{"a":"x","b":1}')
SALT = bytes(range(32))
COMMITMENT = "01ccf307ea6060a7c78bfdbe0f3101cd03094a70a5e432f887df1264763b70b5"
LEAF_HASH = "c8029b4ca10c29e0f8163950eda12d771d722737d09e7924d6541d59fb8d3e0f"
V2_COMMITMENT = "36bc75492c3d128447f9d6c1b0b22865232d63a769a356c828bfc42a6bd2fd21"
V2_LEAF_HASH = "e31cabc248d7e4b63d8f3c7b8d16827ef970d2d37335f8e722747f80d8eba3a2"


def test_known_body_commitment_and_leaf():
    assert encoding.body_bytes(FIELDS) == BODY
    assert encoding.body_bytes({**FIELDS, "ts": datetime(2025, 1, 2, 3, 4, 5, 6, UTC)}) == BODY
    commitment = encoding.commitment(SALT, BODY)
    assert commitment == hashlib.sha256(SALT + BODY).digest()
    assert commitment.hex() == COMMITMENT
    leaf = encoding.leaf_bytes(1, FIELDS["ts"], commitment)
    assert leaf == (b"\x03" + (1).to_bytes(8, "big") + b"\x1b" + FIELDS["ts"].encode()
                    + b"\x20" + commitment)
    assert merkle.leaf_hash(leaf).hex() == LEAF_HASH


def test_version_2_vectors_still_hold():
    body = encoding.body_bytes(FIELDS, version=2)
    assert body == b"\x02" + BODY[1:]
    commitment = encoding.commitment(SALT, body)
    assert commitment.hex() == V2_COMMITMENT
    leaf = encoding.leaf_bytes(1, FIELDS["ts"], commitment, version=2)
    assert leaf == b"\x02" + (1).to_bytes(8, "big") + FIELDS["ts"].encode() + commitment
    assert merkle.leaf_hash(leaf).hex() == V2_LEAF_HASH


@pytest.mark.parametrize(("ts", "commitment", "problem"), [
    ("2025-01-02T03:04:05Z", bytes(32), "ts is not"),  # shortened
    ("2025-01-02T03:04:05.000006Z" + "0", bytes(31), "ts is not"),  # a byte moved in
    ("2025-01-02 03:04:05.000006Z", bytes(32), "ts is not"),  # not the one shape
    ("2025-01-02T03:04:05.000006Z", bytes(33), "commitment is not 32 bytes"),
])
def test_leaves_have_one_size_whatever_the_version(ts, commitment, problem):
    """Version 2 has no lengths: with free sizes, ``ts`` could give bytes to the commitment
    (or take some) and keep the leaf hash; every version now requires 27 and 32 bytes."""
    for version in encoding.VERSIONS:
        with pytest.raises(ValueError, match=problem):
            encoding.leaf_bytes(1, ts, commitment, version=version)


@pytest.mark.parametrize("change", [
    {"target_id": None},  # null is not the empty string
    {"actor_id": "é", "actor_role": ""},
    {"actor_id": "", "actor_role": "é"},  # bytes moved across a field boundary
    {"details": {"a": "x", "b": 2}},
    {"details": None},
    {"seq": 2},
    {"ts": "2025-01-02T03:04:05.000007Z"},
])
def test_every_change_changes_the_body(change):
    assert encoding.body_bytes({**FIELDS, **change}) != BODY


def test_details_are_canonical_json():
    assert encoding.details_text({"z": [1, "é"], "a": None}) == '{"a":null,"z":[1,"é"]}'
    assert encoding.details_text(None) is None


def test_unknown_versions_are_refused():
    with pytest.raises(encoding.UnknownVersion):
        encoding.body_bytes(FIELDS, version=1)
    with pytest.raises(encoding.UnknownVersion):
        encoding.leaf_bytes(1, FIELDS["ts"], bytes(32), version=4)
    with pytest.raises(encoding.UnknownVersion):
        encoding.checkpoint_bytes(1, bytes(32), FIELDS["ts"], "k", version=2)
