"""The canonical, versioned byte encodings of audit leaves, bodies and checkpoints.

Version 1 (specified in docs/audit.md; change nothing here without a new version):

- body  = canonical JSON of the event's fields (``BODY_FIELDS``, nulls included, ``ts`` as
  RFC 3339 UTC with microseconds and ``Z``), plus ``"v": 1``;
- commitment = SHA-256(salt || body), with a random 32-byte salt per event, so a purged
  body cannot be guessed back from its commitment;
- leaf  = canonical JSON ``{"body": hex(commitment), "seq": n, "ts": ..., "v": 1}``,
  hashed as an RFC 9162 leaf: SHA-256(0x00 || leaf);
- checkpoint = canonical JSON ``{"key_id", "root": hex, "tree_size", "ts",
  "type": "spe-audit-checkpoint", "v": 1}``, signed with Ed25519.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from spe.crypto.canonical import canonical_json

VERSION = 1
SALT_BYTES = 32
CHECKPOINT_TYPE = "spe-audit-checkpoint"
BODY_FIELDS = ("seq", "ts", "actor_type", "actor_id", "actor_role", "action", "target_type",
               "target_id", "project_id", "outcome", "request_id", "trace_id", "client_addr",
               "details")


class UnknownVersion(ValueError):
    """An encoding version this code does not know."""


def format_ts(ts: datetime) -> str:
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def body_bytes(fields: dict[str, Any], version: int = VERSION) -> bytes:
    """Canonical body from a mapping holding every name in ``BODY_FIELDS``."""
    if version != VERSION:
        raise UnknownVersion(f"audit body version {version} is not supported")
    body = {name: fields[name] for name in BODY_FIELDS}
    body["ts"] = format_ts(body["ts"]) if isinstance(body["ts"], datetime) else body["ts"]
    body["v"] = version
    return canonical_json(body)


def commitment(salt: bytes, body: bytes) -> bytes:
    return hashlib.sha256(salt + body).digest()


def leaf_bytes(seq: int, ts: datetime | str, body_commitment: bytes,
               version: int = VERSION) -> bytes:
    if version != VERSION:
        raise UnknownVersion(f"audit leaf version {version} is not supported")
    stamp = format_ts(ts) if isinstance(ts, datetime) else ts
    return canonical_json({"body": body_commitment.hex(), "seq": seq, "ts": stamp,
                           "v": version})


def checkpoint_bytes(tree_size: int, root: bytes, ts: datetime | str, key_id: str,
                     version: int = VERSION) -> bytes:
    if version != VERSION:
        raise UnknownVersion(f"audit checkpoint version {version} is not supported")
    stamp = format_ts(ts) if isinstance(ts, datetime) else ts
    return canonical_json({"key_id": key_id, "root": root.hex(), "tree_size": tree_size,
                           "ts": stamp, "type": CHECKPOINT_TYPE, "v": version})
