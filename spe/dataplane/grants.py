"""Extract grants: short-lived, project-scoped credentials to fetch a decrypted extract.

A grant is a JWT (HS256, :mod:`joserfc`) under a key only the control plane holds, with
``aud = spe-extract-grant``, ``sub = <project id>`` and an expiry. It is not a database token
because the reconciler hands one to the runtime on every pass: a grant is computed, not
stored, and it is the same for half its lifetime (the expiry is aligned on a window), so
the workspace spec does not change at each pass. The endpoint also refuses any grant of a
project whose permit is not active now, so a halt or a revocation cuts it at once, whatever
its expiry. Why not the hub's service token: it lives a year and the hub holds it; a grant
reaches only the servers' init container (Kubernetes) and says one thing.
"""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from spe.errors import Unauthenticated
from spe.messages import Message

AUDIENCE = "spe-extract-grant"
ALGORITHM = "HS256"


class GrantRefused(Unauthenticated):
    default_code = "extract.grant_refused"


def issue_grant(key: bytes, project_id: str, ttl_seconds: int,
                now: float | None = None) -> tuple[str, int]:
    """``(grant, expiry)``; the expiry is a multiple of ``ttl/2``, between ``ttl/2`` and
    ``ttl`` from now, so the grant stays the same for ``ttl/2`` seconds."""
    window = max(ttl_seconds // 2, 1)
    now = time.time() if now is None else now
    expires = (int(now) // window + 2) * window
    claims = {"aud": AUDIENCE, "sub": project_id, "exp": expires}
    return jwt.encode({"alg": ALGORITHM}, claims, OctKey.import_key(key)), expires


def check_grant(key: bytes, grant: str, project_id: str, now: float | None = None) -> None:
    """Raise :class:`GrantRefused` unless ``grant`` is a live grant for ``project_id``."""
    try:
        token = jwt.decode(grant, OctKey.import_key(key), algorithms=[ALGORITHM])
        jwt.JWTClaimsRegistry(
            now=int(time.time() if now is None else now), leeway=0,
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True, "value": project_id},
            exp={"essential": True}).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise GrantRefused(Message("not a valid extract grant for project {project_id}",
                                   project_id=project_id)) from exc
