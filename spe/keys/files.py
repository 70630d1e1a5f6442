"""Wrapped data keys kept in files: the part every key store shares.

One file per project, ``<path>/projects/<project>.json``: the key id and the data key
wrapped by the store's key-encryption key (a subclass says how: :meth:`_wrap`,
:meth:`_unwrap`), the project id and key id bound as associated data, so a wrapped key
moved to another project does not open. Creation is atomic and refuses a second key.
Destroying a key first checks that the store can destroy it (:meth:`_check_destroyable`:
the HSM key named by the project and key id is there), then writes a tombstone
``<project>.destroyed`` (the key can be neither used nor silently recreated), lets the store
forget what only it holds (:meth:`_forget`: the HSM key of
:class:`spe.keys.pkcs11.Pkcs11KeyStore`), then overwrites and deletes the file. A wrapped-key
file that cannot be read, or names another key than its project's, is refused loudly
(:class:`KeyStoreError`) and nothing is recorded as destroyed.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from abc import abstractmethod
from datetime import UTC, datetime
from pathlib import Path

from spe.crypto.canonical import canonical_json
from spe.fs import private_folder
from spe.keys.base import (
    DATA_KEY_BYTES,
    DataKey,
    KeyDestroyed,
    KeyExists,
    KeyNotFound,
    KeyStore,
    KeyStoreError,
)
from spe.storage.layout import component

FORMAT = "spe-wrapped-key/v1"


class WrappedKeyFiles(KeyStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._projects = self.path / "projects"
        private_folder(self._projects)

    @abstractmethod
    def _wrap(self, project_id: str, key: DataKey) -> dict:
        """``kek_id``, ``nonce`` and ``wrapped`` (base64) of a new key, bound to
        :func:`aad` of the project and key."""

    @abstractmethod
    def _unwrap(self, project_id: str, record: dict) -> bytes:
        """The plaintext of a record this store wrapped; :class:`KekMismatch` otherwise."""

    def _check_destroyable(self, project_id: str, record: dict) -> None:
        """Raise :class:`KeyStoreError` unless :meth:`_forget` can destroy this key (nothing
        to check here)."""

    def _forget(self, project_id: str, key_id: str) -> None:
        """Destroy what only the key-encryption side holds for this key (nothing here);
        one already gone is no error (a retry)."""

    def _wrapped(self, project_id: str) -> Path:
        return self._projects / f"{component(project_id, 'project id')}.json"

    def _tombstone(self, project_id: str) -> Path:
        return self._projects / f"{component(project_id, 'project id')}.destroyed"

    def _refuse_if_destroyed(self, project_id: str) -> None:
        tombstone = self._tombstone(project_id)
        if tombstone.exists():
            record = json.loads(tombstone.read_text())
            raise KeyDestroyed(f"the data key {record['key_id']} of project {project_id} was "
                               f"destroyed at {record['destroyed_at']}", record["key_id"])

    def create_data_key(self, project_id: str) -> DataKey:
        self._refuse_if_destroyed(project_id)
        if self._wrapped(project_id).exists():
            raise KeyExists(f"project {project_id} already has a data key")
        key = DataKey(key_id=f"dk-{secrets.token_hex(8)}",
                      plaintext=secrets.token_bytes(DATA_KEY_BYTES))
        record = {"format": FORMAT, "project_id": project_id, "key_id": key.key_id,
                  **self._wrap(project_id, key)}
        fd, temp_name = tempfile.mkstemp(dir=self._projects, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(canonical_json(record))
                out.flush()
                os.fsync(out.fileno())
            os.link(temp_name, self._wrapped(project_id))  # fails if a key already exists
        except FileExistsError as exc:
            self._forget(project_id, key.key_id)  # lost a race: this key was never given out
            raise KeyExists(f"project {project_id} already has a data key") from exc
        finally:
            os.unlink(temp_name)
        return key

    def _read(self, project_id: str) -> dict:
        self._refuse_if_destroyed(project_id)
        try:
            return json.loads(self._wrapped(project_id).read_bytes())
        except FileNotFoundError as exc:
            raise KeyNotFound(f"project {project_id} has no data key") from exc

    def _record(self, project_id: str) -> dict:
        """The project's wrapped-key record, refused unless it is one for that project."""
        try:
            record = self._read(project_id)
        except ValueError as exc:
            raise KeyStoreError(f"the wrapped key file of project {project_id} is not "
                                "readable JSON: corrupt or altered") from exc
        if not (isinstance(record, dict) and record.get("format") == FORMAT
                and record.get("project_id") == project_id
                and isinstance(record.get("key_id"), str)):
            raise KeyStoreError(f"the wrapped key file of project {project_id} is not a "
                                f"{FORMAT} record for that project")
        return record

    def unwrap(self, project_id: str) -> DataKey:
        record = self._record(project_id)
        return DataKey(key_id=record["key_id"], plaintext=self._unwrap(project_id, record))

    def destroy(self, project_id: str) -> str:
        wrapped = self._wrapped(project_id)
        tombstone = self._tombstone(project_id)
        if tombstone.exists():  # finish a destruction a crash interrupted
            self._forget(project_id, json.loads(tombstone.read_text())["key_id"])
            _wipe(wrapped)
            self._refuse_if_destroyed(project_id)
        record = self._record(project_id)
        self._check_destroyable(project_id, record)
        fd, temp_name = tempfile.mkstemp(dir=self._projects, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(canonical_json({"key_id": record["key_id"],
                                      "destroyed_at": datetime.now(UTC).isoformat()}))
        os.replace(temp_name, tombstone)
        self._forget(project_id, record["key_id"])
        _wipe(wrapped)
        return record["key_id"]

    def exists(self, project_id: str) -> bool:
        return self._wrapped(project_id).exists() and not self._tombstone(project_id).exists()


def aad(project_id: str, key_id: str) -> bytes:
    return canonical_json({"format": FORMAT, "project_id": project_id, "key_id": key_id})


def _wipe(path: Path) -> None:
    """Overwrite in place with random bytes, flush to disk, delete."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(max(os.fstat(out.fileno()).st_size, 1)))
        out.flush()
        os.fsync(out.fileno())
    path.unlink()
