"""Encoding version 2: known vectors written out byte by byte, and what must not collide."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from spe.audit import encoding, merkle

FIELDS = {"seq": 1, "ts": "2025-01-02T03:04:05.000006Z", "actor_type": "user", "actor_id": "é",
          "actor_role": None, "action": "a.b", "target_type": None, "target_id": "",
          "project_id": None, "outcome": "success", "request_id": None, "trace_id": None,
          "client_addr": None, "details": {"b": 1, "a": "x"}}
BODY = (b"\x02" + b"\x00" * 7 + b"\x01"  # version, seq
        + bytes.fromhex("0000001b 00000004 00000002 ffffffff 00000003 ffffffff 00000000"
                        "ffffffff 00000007 ffffffff ffffffff ffffffff 0000000f")  # lengths
        + b"2025-01-02T03:04:05.000006Z" + b"user" + "é".encode() + b"a.b" + b"success"
        + b'{"a":"x","b":1}')
SALT = bytes(range(32))
COMMITMENT = "36bc75492c3d128447f9d6c1b0b22865232d63a769a356c828bfc42a6bd2fd21"
LEAF_HASH = "e31cabc248d7e4b63d8f3c7b8d16827ef970d2d37335f8e722747f80d8eba3a2"


def test_known_body_commitment_and_leaf():
    assert encoding.body_bytes(FIELDS) == BODY
    assert encoding.body_bytes({**FIELDS, "ts": datetime(2025, 1, 2, 3, 4, 5, 6, UTC)}) == BODY
    commitment = encoding.commitment(SALT, BODY)
    assert commitment == hashlib.sha256(SALT + BODY).digest()
    assert commitment.hex() == COMMITMENT
    leaf = encoding.leaf_bytes(1, FIELDS["ts"], commitment)
    assert leaf == b"\x02" + (1).to_bytes(8, "big") + FIELDS["ts"].encode() + commitment
    assert merkle.leaf_hash(leaf).hex() == LEAF_HASH


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
        encoding.leaf_bytes(1, FIELDS["ts"], bytes(32), version=3)
    with pytest.raises(encoding.UnknownVersion):
        encoding.checkpoint_bytes(1, bytes(32), FIELDS["ts"], "k", version=2)
