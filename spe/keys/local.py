"""``KeyStore`` on the local file system: the embedded default.

The KEK is 32 random bytes in a key file (``<path>/kek.key`` unless given; created mode 0600
when absent; in production mount it as a secret, apart from the wrapped keys). Each project's
data key is wrapped with AES-256-GCM under the KEK, the project id and key id bound as
associated data, in ``<path>/projects/<project>.json``. Destroying it overwrites that file,
deletes it and leaves a tombstone ``<project>.destroyed`` so the key can be neither used nor
silently recreated.

Deleting a file is not a guarantee that its bytes are gone (journals, copy-on-write file
systems, SSD wear levelling, backups of the directory): the guarantee here is as good as the
disk's. Production crypto-shredding needs a KMS, where destruction is enforced (see
:mod:`spe.keys.base`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spe.crypto.canonical import canonical_json
from spe.keys.base import (
    DATA_KEY_BYTES,
    DataKey,
    KekMismatch,
    KeyDestroyed,
    KeyExists,
    KeyNotFound,
    KeyStore,
    KeyStoreError,
)
from spe.storage.layout import component

FORMAT = "spe-wrapped-key/v1"
KEK_BYTES = 32


def load_or_create_kek(path: Path) -> bytes:
    """The KEK in ``path``, created (32 random bytes, mode 0600) when the file is absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(KEK_BYTES))
    kek = path.read_bytes()
    if len(kek) != KEK_BYTES:
        raise KeyStoreError(f"{path} holds {len(kek)} bytes, a KEK is {KEK_BYTES}")
    return kek


class LocalKeyStore(KeyStore):
    def __init__(self, path: Path, kek_path: Path | None = None) -> None:
        self.path = Path(path)
        self._projects = self.path / "projects"
        self._projects.mkdir(parents=True, exist_ok=True, mode=0o700)
        kek = load_or_create_kek(kek_path or self.path / "kek.key")
        self._kek = AESGCM(kek)
        self.kek_id = hashlib.sha256(b"spe-kek-id\x00" + kek).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LocalKeyStore(path={str(self.path)!r}, kek_id={self.kek_id!r})"

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
        key = DataKey(key_id=f"dk-{secrets.token_hex(8)}",
                      plaintext=secrets.token_bytes(DATA_KEY_BYTES))
        nonce = secrets.token_bytes(12)
        record = {
            "format": FORMAT, "project_id": project_id, "key_id": key.key_id,
            "kek_id": self.kek_id, "nonce": base64.b64encode(nonce).decode(),
            "wrapped": base64.b64encode(
                self._kek.encrypt(nonce, key.plaintext, _aad(project_id, key.key_id))).decode(),
        }
        fd, temp_name = tempfile.mkstemp(dir=self._projects, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(canonical_json(record))
                out.flush()
                os.fsync(out.fileno())
            os.link(temp_name, self._wrapped(project_id))  # fails if a key already exists
        except FileExistsError as exc:
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

    def unwrap(self, project_id: str) -> DataKey:
        record = self._read(project_id)
        if record.get("format") != FORMAT or record.get("project_id") != project_id:
            raise KeyStoreError(f"the wrapped key file of project {project_id} is not a "
                                f"{FORMAT} record for that project")
        if record["kek_id"] != self.kek_id:
            raise KekMismatch(f"the data key of project {project_id} is wrapped under KEK "
                              f"{record['kek_id']}, this store holds KEK {self.kek_id}")
        try:
            plaintext = self._kek.decrypt(base64.b64decode(record["nonce"]),
                                          base64.b64decode(record["wrapped"]),
                                          _aad(project_id, record["key_id"]))
        except InvalidTag as exc:
            raise KekMismatch(f"the wrapped data key of project {project_id} does not open "
                              "under this KEK: altered or wrapped elsewhere") from exc
        return DataKey(key_id=record["key_id"], plaintext=plaintext)

    def destroy(self, project_id: str) -> str:
        wrapped = self._wrapped(project_id)
        tombstone = self._tombstone(project_id)
        if tombstone.exists():
            _wipe(wrapped)  # finish a destruction a crash interrupted
            self._refuse_if_destroyed(project_id)
        key_id = self._read(project_id)["key_id"]
        fd, temp_name = tempfile.mkstemp(dir=self._projects, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(canonical_json({"key_id": key_id,
                                      "destroyed_at": datetime.now(UTC).isoformat()}))
        os.replace(temp_name, tombstone)
        _wipe(wrapped)
        return key_id

    def exists(self, project_id: str) -> bool:
        return self._wrapped(project_id).exists() and not self._tombstone(project_id).exists()


def _aad(project_id: str, key_id: str) -> bytes:
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
