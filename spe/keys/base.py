"""Per-project data keys and the store that keeps them wrapped.

The key hierarchy::

    key-encryption key (KEK)      held by the key store: a local key file, or an HSM
      └── data key, one per project (AES-256), stored only wrapped under the KEK
            └── extract files, AES-256-GCM (spe.data.encryption)

Destroying a project's data key makes every copy of its extract unreadable, wherever the
copies went (backups, replicas): that is crypto-shredding.

:mod:`spe.keys.pkcs11` keeps a key per project inside an HSM, where destruction is
enforced by hardware and procedure (docs/data-plane.md); :mod:`spe.keys.local` wraps under a
key file. A cloud KMS store (Vault Transit, a provider's KMS API) would implement the same
four methods: ``create_data_key`` as the KMS's *generate data key* (keep the wrapped key,
return the plaintext), ``unwrap`` as its *decrypt*, ``destroy`` deleting the wrapped key and
scheduling the destruction of the project's KMS key, ``exists`` looking the wrapped key up.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

DATA_KEY_BYTES = 32


class KeyStoreError(Exception):
    """Base of every key store failure."""


class KeyNotFound(KeyStoreError):
    """The project has no data key (and never had one)."""


class KeyExists(KeyStoreError):
    """The project already has a live data key."""


class KeyDestroyed(KeyStoreError):
    """The project's data key was destroyed; it can never be used or recreated."""

    def __init__(self, message: str, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class KekMismatch(KeyStoreError):
    """A wrapped key that this store's key-encryption key cannot open."""


@dataclass(frozen=True)
class DataKey:
    """A project's data key in clear; the plaintext never appears in ``repr``."""

    key_id: str
    plaintext: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.plaintext) != DATA_KEY_BYTES:
            raise ValueError(f"a data key is {DATA_KEY_BYTES} bytes, not {len(self.plaintext)}")


class KeyStore(ABC):
    """Where project data keys live, wrapped; implementations are chosen by configuration."""

    @abstractmethod
    def create_data_key(self, project_id: str) -> DataKey:
        """A new random key for the project; :class:`KeyExists` or :class:`KeyDestroyed`
        if the project already has or had one."""

    @abstractmethod
    def unwrap(self, project_id: str) -> DataKey:
        """The project's key in clear; :class:`KeyNotFound` or :class:`KeyDestroyed`."""

    @abstractmethod
    def destroy(self, project_id: str) -> str:
        """Destroy the project's key for good and return its id; :class:`KeyNotFound` if it
        never existed, :class:`KeyDestroyed` if it is already gone."""

    @abstractmethod
    def exists(self, project_id: str) -> bool:
        """Whether the project has a live (not destroyed) key."""

    @property
    @abstractmethod
    def description(self) -> dict:
        """Which store this is, for shred records: ``type``, ``assurance`` (``software``: a
        key file wraps the data keys, so a backup of both brings a destroyed key back;
        ``hardware``: the key-encryption key was deleted inside an HSM) and what names it
        (a KEK id, an HSM token label); never a secret."""
