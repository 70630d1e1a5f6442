"""Canonical JSON: the one byte encoding that spe signs and hashes.

Keys sorted, no insignificant white space, UTF-8, no NaN or infinities. Values must be JSON
types already (convert datetimes to RFC 3339 strings and bytes to base64 or hex first), so
two implementations given the same value produce the same bytes.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
