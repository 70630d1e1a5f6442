"""Crypto-shredding: destroy a project's data key, then delete its extracts.

The key goes first: from that moment every copy of every extract of the project (in the
store, a backup, a replica, a workspace's cache of ciphertext) is unreadable, and deleting the
objects afterwards is tidying. If the deletion fails half way, running again finishes it:
a key already destroyed is recorded as such, not an error.

The record returned is plain data for the lead to sign and append to the audit log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from spe.keys.base import KeyDestroyed, KeyStore
from spe.storage.base import ObjectStore
from spe.storage.layout import project_prefix

RECORD_FORMAT = "spe-crypto-shred/v2"  # v2: names the key store (and its assurance)


def shred_project(store: ObjectStore, keys: KeyStore, project_id: str) -> dict[str, Any]:
    """Destroy ``project_id``'s data key and delete ``projects/<id>/extracts/``; return what
    was done: key id, whether it was destroyed now or before, by which key store (and so
    with which assurance), each object deleted, counts. A key the store cannot destroy
    raises (:class:`spe.keys.KeyStoreError`) before anything is deleted or recorded."""
    started = datetime.now(UTC)
    try:
        key_id = keys.destroy(project_id)
        destroyed_now = True
    except KeyDestroyed as gone:
        key_id = gone.key_id
        destroyed_now = False
    key_destroyed_at = datetime.now(UTC)

    prefix = f"{project_prefix(project_id)}extracts/"
    deleted = []
    for info in store.list(prefix):
        store.delete(info.key)
        deleted.append({"key": info.key, "size": info.size, "etag": info.etag})
    return {
        "format": RECORD_FORMAT,
        "project_id": project_id,
        "key_id": key_id,
        "key_destroyed_now": destroyed_now,
        "key_destroyed_at": key_destroyed_at.isoformat() if destroyed_now else None,
        "keystore": keys.description,
        "prefix": prefix,
        "objects_deleted": deleted,
        "object_count": len(deleted),
        "bytes_deleted": sum(item["size"] for item in deleted),
        "started_at": started.isoformat(),
        "completed_at": datetime.now(UTC).isoformat(),
    }
