"""The work-area key: one per project in spe's key store, for a runtime that encrypts the
project's volumes with it.

On Kubernetes the operator's storage class encrypts every volume of the project's namespace
(researchers' work areas, the project folder, the hub's database, the extract copy) with the
key of the namespace's ``work-area-key`` Secret, which the runtime writes from this key
(:mod:`controllers.runtimes.kubernetes.render`). When the permit ends, the reconciler
destroys the key here *before* the namespace, and so the Secret, is deleted: no copy of a
volume (a ``Retain`` class's leftover, a snapshot, a backup) opens again, as far as the key
store's destruction goes (``assurance`` in the record: an HSM's is enforced, a key file's is
as good as its disk and backups, docs/data-plane.md).

The key lives under its own name, ``<project>.work-area``, beside the project's extract key
(project ids never contain a dot), so the two are destroyed each on its own schedule: the
work area's when the permit ends, the extract's at once or after the retention delay.
"""

from __future__ import annotations

import base64
from typing import Any

from spe.errors import TerminalError
from spe.keys import KeyDestroyed, KeyExists, KeyNotFound, KeyStore

SUFFIX = ".work-area"
RECORD_FORMAT = "spe-work-area-shred/v1"
ACTION = "data.work_area.shred"


def key_name(project_id: str) -> str:
    """The name the project's work-area key has in the key store."""
    return f"{project_id}{SUFFIX}"


def project_of(name: str) -> str | None:
    """The project whose work-area key ``name`` is, ``None`` for any other key."""
    return name.removesuffix(SUFFIX) if name.endswith(SUFFIX) else None


def passphrase(keys: KeyStore, project_id: str) -> str:
    """The project's work-area key (created on first use), as the base64 text storage
    drivers take; :class:`TerminalError` once it was destroyed (the permit ended)."""
    name = key_name(project_id)
    try:
        try:
            key = keys.unwrap(name)
        except KeyNotFound:
            key = keys.create_data_key(name)
    except KeyExists:  # another worker created it between the two calls
        key = keys.unwrap(name)
    except KeyDestroyed as exc:
        raise TerminalError(f"the work areas of project {project_id} were shredded: "
                            f"{exc}") from exc
    return base64.b64encode(key.plaintext).decode()


def destroy(keys: KeyStore, project_id: str) -> dict[str, Any] | None:
    """Destroy the project's work-area key; the shred record (never a secret), or ``None``
    if the project never had one. A key destroyed earlier gives a record whose
    ``destroyed_now`` is false (a pass that crashed before recording it)."""
    name = key_name(project_id)
    try:
        key_id, now = keys.destroy(name), True
    except KeyNotFound:
        return None
    except KeyDestroyed as exc:
        key_id, now = exc.key_id, False
    return {"format": RECORD_FORMAT, "project_id": project_id, "stored_as": name,
            "key_id": key_id, "destroyed_now": now, "keystore": keys.description}
