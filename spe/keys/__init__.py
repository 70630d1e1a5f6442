"""Project data keys wrapped under a key-encryption key; see :mod:`spe.keys.base`."""

from spe.keys.base import (
    DataKey,
    KekMismatch,
    KeyDestroyed,
    KeyExists,
    KeyNotFound,
    KeyStore,
    KeyStoreError,
)
from spe.keys.local import LocalKeyStore

__all__ = ["DataKey", "KekMismatch", "KeyDestroyed", "KeyExists", "KeyNotFound", "KeyStore",
           "KeyStoreError", "LocalKeyStore"]
