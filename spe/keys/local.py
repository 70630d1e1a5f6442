"""``KeyStore`` on the local file system: the embedded default.

The KEK is 32 random bytes in a key file (``<path>/kek.key`` unless given; created mode 0600
when absent; in production mount it as a secret, apart from the wrapped keys). Each project's
data key is wrapped with AES-256-GCM under the KEK in its file (:mod:`spe.keys.files`).

Deleting a file is not a guarantee that its bytes are gone (journals, copy-on-write file
systems, SSD wear levelling, backups of the directory), and a backup of the wrapped key
opens again under the same KEK: the guarantee here is as good as the disk's and the backups'.
Enforced crypto-shredding needs keys that live only in an HSM or KMS
(:mod:`spe.keys.pkcs11`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spe.fs import private_folder
from spe.keys.base import DataKey, KekMismatch, KeyStoreError
from spe.keys.files import WrappedKeyFiles, aad

KEK_BYTES = 32


def load_or_create_kek(path: Path) -> bytes:
    """The KEK in ``path``, created (32 random bytes, mode 0600) when the file is absent."""
    if not path.exists():
        private_folder(path.parent)
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


class LocalKeyStore(WrappedKeyFiles):
    def __init__(self, path: Path, kek_path: Path | None = None) -> None:
        super().__init__(path)
        kek = load_or_create_kek(kek_path or self.path / "kek.key")
        self._kek = AESGCM(kek)
        self.kek_id = hashlib.sha256(b"spe-kek-id\x00" + kek).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LocalKeyStore(path={str(self.path)!r}, kek_id={self.kek_id!r})"

    @property
    def description(self) -> dict:
        return {"type": "local", "kek_id": self.kek_id, "assurance": "software"}

    def _wrap(self, project_id: str, key: DataKey) -> dict:
        nonce = secrets.token_bytes(12)
        wrapped = self._kek.encrypt(nonce, key.plaintext, aad(project_id, key.key_id))
        return {"kek_id": self.kek_id, "nonce": base64.b64encode(nonce).decode(),
                "wrapped": base64.b64encode(wrapped).decode()}

    def _unwrap(self, project_id: str, record: dict) -> bytes:
        if record["kek_id"] != self.kek_id:
            raise KekMismatch(f"the data key of project {project_id} is wrapped under KEK "
                              f"{record['kek_id']}, this store holds KEK {self.kek_id}")
        try:
            return self._kek.decrypt(base64.b64decode(record["nonce"]),
                                     base64.b64decode(record["wrapped"]),
                                     aad(project_id, record["key_id"]))
        except InvalidTag as exc:
            raise KekMismatch(f"the wrapped data key of project {project_id} does not open "
                              "under this KEK: altered or wrapped elsewhere") from exc
