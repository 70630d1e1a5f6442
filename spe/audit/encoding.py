"""The canonical, versioned byte encodings of audit leaves, bodies and checkpoints.

Specified in docs/audit.md; the sizes and versions come from :mod:`spe.audit.layout`, which
the compiled verifier shares (change nothing here without a new version). Built from plain
byte joins, so a verifier spends its time hashing, not re-encoding:

- ``ts`` is RFC 3339 UTC with microseconds and ``Z`` (exactly 27 ASCII bytes);
- body = ``version || seq (8 bytes, big-endian) || 13 lengths (4 bytes each, big-endian,
  signed; -1 for null) || the 13 values`` for ``ts`` and the other ``BODY_FIELDS`` in order,
  each value its UTF-8 bytes, ``details`` its canonical JSON (which is also how it is
  stored). Lengths first, so the whole header is one ``struct`` call;
- commitment = SHA-256(salt || body), with a random 32-byte salt per event, so a purged
  body cannot be guessed back from its commitment;
- leaf version 3 = ``0x03 || seq (8 bytes) || len(ts) (1 byte) || ts || len(commitment)
  (1 byte) || commitment``, hashed as an RFC 9162 leaf: SHA-256(0x00 || leaf). Version 2
  (``0x02 || seq || ts || commitment``, no lengths) is still verified, with the same strict
  sizes: without them bytes could move between ``ts`` and the commitment under one hash.

Checkpoints keep their own version 1: canonical JSON ``{"key_id", "root": hex,
"tree_size", "ts", "type": "spe-audit-checkpoint", "v": 1}``, signed with Ed25519.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from spe.audit import layout
from spe.crypto.canonical import canonical_json

VERSION = layout.VERSION
VERSIONS = layout.VERSIONS
CHECKPOINT_VERSION = 1
SALT_BYTES = layout.SALT_BYTES
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
CHECKPOINT_TYPE = "spe-audit-checkpoint"
BODY_FIELDS = ("seq", "ts", "actor_type", "actor_id", "actor_role", "action", "target_type",
               "target_id", "project_id", "outcome", "request_id", "trace_id", "client_addr",
               "details")
VALUES = len(BODY_FIELDS) - 1  # every field but seq
BODY_HEAD = struct.Struct(f">BQ{VALUES}i")  # version, seq, lengths
LEAF_HEAD = struct.Struct(">BQ")  # version 2: version, seq
LEAF_V3_HEAD = struct.Struct(">BQB")  # version 3: version, seq, len(ts)
NULL_LENGTH = layout.NULL_LENGTH
TS_BYTES = layout.TS_BYTES
TS_PATTERN = re.compile(re.escape(layout.TS_SHAPE).replace("0", "[0-9]").encode())
BODY_TS = slice(layout.BODY_TS_AT, layout.BODY_TS_AT + TS_BYTES)
BODY_TS_LENGTH = slice(9, 13)  # the first of the 13 lengths


class UnknownVersion(ValueError):
    """An encoding version this code does not know."""


def format_ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime(TS_FORMAT)


def details_text(details: dict[str, Any] | None) -> str | None:
    """``details`` as stored and as committed to: canonical JSON."""
    return None if details is None else canonical_json(details).decode()


def encode_body(seq: int, values: Sequence[bytes | None], version: int = VERSION) -> bytes:
    """The body from ``seq`` and the UTF-8 bytes (or None) of the other fields, in order."""
    lengths = [NULL_LENGTH if v is None else len(v) for v in values]
    return BODY_HEAD.pack(version, seq, *lengths) + b"".join(filter(None, values))


def body_bytes(fields: dict[str, Any], version: int = VERSION) -> bytes:
    """The body from a mapping holding every name in ``BODY_FIELDS`` (``ts`` a datetime or
    its RFC 3339 text, ``details`` a dict or None)."""
    if version not in VERSIONS:
        raise UnknownVersion(f"audit body version {version} is not supported")
    ts = fields["ts"]
    texts = [format_ts(ts) if isinstance(ts, datetime) else ts,
             *(fields[name] for name in BODY_FIELDS[2:-1]), details_text(fields["details"])]
    return encode_body(fields["seq"], [None if t is None else t.encode() for t in texts],
                       version)


def commitment(salt: bytes, body: bytes) -> bytes:
    return hashlib.sha256(salt + body).digest()


def leaf_bytes(seq: int, ts: datetime | str, body_commitment: bytes,
               version: int = VERSION) -> bytes:
    """The leaf; raises ValueError unless ``ts`` is 27 bytes and the commitment 32."""
    if version not in VERSIONS:
        raise UnknownVersion(f"audit leaf version {version} is not supported")
    stamp = (format_ts(ts) if isinstance(ts, datetime) else ts).encode()
    problem = leaf_problem(stamp, body_commitment)
    if problem:
        raise ValueError(problem)
    if version == layout.LEAF_V2:
        return LEAF_HEAD.pack(version, seq) + stamp + body_commitment
    return (LEAF_V3_HEAD.pack(version, seq, TS_BYTES) + stamp
            + bytes((layout.HASH_BYTES,)) + body_commitment)


def leaf_problem(ts: bytes, body_commitment: bytes) -> str | None:
    """Why a leaf's ``ts`` or commitment is not of the one shape every version requires."""
    if len(ts) != TS_BYTES or not TS_PATTERN.fullmatch(ts):
        return "leaf is malformed: ts is not a 27-byte RFC 3339 UTC time"
    if len(body_commitment) != layout.HASH_BYTES:
        return "leaf is malformed: commitment is not 32 bytes"
    return None


def checkpoint_bytes(tree_size: int, root: bytes, ts: datetime | str, key_id: str,
                     version: int = CHECKPOINT_VERSION) -> bytes:
    if version != CHECKPOINT_VERSION:
        raise UnknownVersion(f"audit checkpoint version {version} is not supported")
    stamp = format_ts(ts) if isinstance(ts, datetime) else ts
    return canonical_json({"key_id": key_id, "root": root.hex(), "tree_size": tree_size,
                           "ts": stamp, "type": CHECKPOINT_TYPE, "v": version})
