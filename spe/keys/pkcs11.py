"""``KeyStore`` in a hardware security module, through PKCS#11 (python-pkcs11).

Each project gets a key-encryption key of its own, generated *inside* the HSM: AES-256,
``CKA_TOKEN`` (kept), ``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``, usable only to encrypt and
decrypt, labelled ``spe:<project>:<key id>`` with the key id as ``CKA_ID``. The label is
always derived from the project and key id being used, never read from the wrapped-key
file: a file edited to name another project's HSM key is refused (it would otherwise have
that key destroyed at shredding), and so is one whose HSM key cannot be found when it is to
be destroyed (a shred record must not say "destroyed" when nothing was). The project's data
key is wrapped by the HSM
with AES-GCM under it (project and key id bound as associated data) and the wrapped bytes
are kept in a file as with every store (:mod:`spe.keys.files`). Destroying the project's
key deletes the HSM object: from then on no copy of the wrapped file, in any backup, opens
again, and the HSM's own procedures (not a file system) decide whether the key can come
back. That is enforced crypto-shredding, which the local key file cannot give.

Any PKCS#11 module works: a network HSM, a SecNumCloud provider's HSM service, a smart
card; the tests use SoftHSM2. The user PIN comes from a file (a mounted secret).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from spe.keys.base import DataKey, KekMismatch, KeyStoreError
from spe.keys.files import WrappedKeyFiles, aad

NONCE_BYTES = 12


class Pkcs11KeyStore(WrappedKeyFiles):
    def __init__(self, path: Path, library: Path, token_label: str, pin: str) -> None:
        import pkcs11  # the optional dependency spe[hsm]

        super().__init__(path)
        self._pkcs11 = pkcs11
        self.token_label = token_label
        self._pin = pin
        try:
            self._token = pkcs11.lib(str(library)).get_token(token_label=token_label)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyStoreError(f"no PKCS#11 token {token_label!r} through {library}: "
                                f"{type(exc).__name__} {exc}".strip()) from exc

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore(path={str(self.path)!r}, token={self.token_label!r})"

    @contextmanager
    def _session(self, rw: bool = False) -> Iterator:
        try:
            with self._token.open(user_pin=self._pin, rw=rw) as session:
                yield session
        except self._pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"the HSM token {self.token_label!r} refused: "
                                f"{type(exc).__name__}") from exc

    @property
    def description(self) -> dict:
        return {"type": "pkcs11", "hsm": self.token_label, "assurance": "hardware"}

    @staticmethod
    def label(project_id: str, key_id: str) -> str:
        return f"spe:{project_id}:{key_id}"

    def _kek_id(self, project_id: str, key_id: str) -> str:
        return f"pkcs11:{self.token_label}/{self.label(project_id, key_id)}"

    def _find(self, session, project_id: str, key_id: str):
        p = self._pkcs11
        return session.get_key(label=self.label(project_id, key_id), id=key_id.encode(),
                               key_type=p.KeyType.AES, object_class=p.ObjectClass.SECRET_KEY)

    def _gcm(self, nonce: bytes, project_id: str, key_id: str):
        return {"mechanism": self._pkcs11.Mechanism.AES_GCM,
                "mechanism_param": self._pkcs11.GCMParams(nonce, aad(project_id, key_id), 128)}

    def _wrap(self, project_id: str, key: DataKey) -> dict:
        p = self._pkcs11
        label = self.label(project_id, key.key_id)
        nonce = secrets.token_bytes(NONCE_BYTES)
        with self._session(rw=True) as session:
            kek = session.generate_key(
                p.KeyType.AES, 256, label=label, id=key.key_id.encode(), store=True,
                capabilities=p.MechanismFlag.ENCRYPT | p.MechanismFlag.DECRYPT,
                template={p.Attribute.SENSITIVE: True, p.Attribute.EXTRACTABLE: False})
            wrapped = kek.encrypt(key.plaintext, **self._gcm(nonce, project_id, key.key_id))
        return {"kek_id": self._kek_id(project_id, key.key_id),
                "nonce": base64.b64encode(nonce).decode(),
                "wrapped": base64.b64encode(wrapped).decode()}

    def _check_label(self, project_id: str, record: dict) -> str:
        """The HSM label of the record's key, derived from project and key id; the record
        must name that very key."""
        kek_id = str(record.get("kek_id", ""))
        if not kek_id.startswith(f"pkcs11:{self.token_label}/"):
            raise KekMismatch(f"the data key of project {project_id} is wrapped under "
                              f"{kek_id}, not by HSM token {self.token_label!r}")
        if kek_id != self._kek_id(project_id, record["key_id"]):
            raise KekMismatch(f"the wrapped key file of project {project_id} names HSM key "
                              f"{kek_id!r}, not its own "
                              f"{self.label(project_id, record['key_id'])!r}: altered or "
                              "wrapped elsewhere")
        return self.label(project_id, record["key_id"])

    def _unwrap(self, project_id: str, record: dict) -> bytes:
        label = self._check_label(project_id, record)
        with self._session() as session:
            try:
                kek = self._find(session, project_id, record["key_id"])
            except self._pkcs11.NoSuchKey as exc:
                raise KekMismatch(f"the HSM holds no key {label!r}: the data key of project "
                                  f"{project_id} was destroyed there") from exc
            try:
                return kek.decrypt(base64.b64decode(record["wrapped"]),
                                   **self._gcm(base64.b64decode(record["nonce"]), project_id,
                                               record["key_id"]))
            except self._pkcs11.PKCS11Error as exc:
                raise KekMismatch(f"the wrapped data key of project {project_id} does not "
                                  "open under its HSM key: altered or wrapped elsewhere") \
                    from exc

    def _check_destroyable(self, project_id: str, record: dict) -> None:
        label = self._check_label(project_id, record)
        with self._session() as session:
            try:
                self._find(session, project_id, record["key_id"])
            except self._pkcs11.NoSuchKey as exc:
                raise KeyStoreError(f"HSM token {self.token_label!r} holds no key {label!r}: "
                                    f"the data key of project {project_id} cannot be "
                                    "destroyed here, nothing was; find out why") from exc

    def _forget(self, project_id: str, key_id: str) -> None:
        with self._session(rw=True) as session, suppress(self._pkcs11.NoSuchKey):
            self._find(session, project_id, key_id).destroy()  # NoSuchKey: gone (a retry)
