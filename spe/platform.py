"""The composition root: what a process builds once from its settings, and hands out.

The API (:func:`spe.web.create_app`) and the controller (:func:`controllers.controller.build`)
each build one :class:`Platform` at start-up: the settings, the database engine, the object
store, the key store, the secret box, the data plane and the keys the process uses
(:data:`spe.dataplane.config.KEY_USERS`), each checked and read once. Routes receive its
parts as FastAPI dependencies (:mod:`spe.api.platform`); nothing is built lazily per
request, and no key file is read per request.

The audit signing key is not part of it: the API only verifies checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from joserfc.jwk import RSAKey
from sqlalchemy.engine import Engine

from spe.audit.config import AuditConfig
from spe.crypto.jwk import load_signing_key
from spe.crypto.secretbox import SecretBox
from spe.crypto.signing import SigningKey
from spe.dataplane import ProjectDataPlane
from spe.dataplane.config import (
    Process,
    grant_key,
    key_store,
    object_store,
    require_key_file,
    require_key_files,
)
from spe.db import get_engine
from spe.keys import KeyStore
from spe.settings import Settings
from spe.storage import ObjectStore


@dataclass(frozen=True)
class Platform:
    """The parts every process shares (the controller's whole root)."""

    settings: Settings
    engine: Engine
    object_store: ObjectStore
    key_store: KeyStore
    secret_box: SecretBox
    data_plane: ProjectDataPlane

    @classmethod
    def build(cls, settings: Settings, engine: Engine | None = None) -> Platform:
        return cls(**_shared(settings, engine, "controller"))


@dataclass(frozen=True)
class ApiPlatform(Platform):
    """The API's root: the shared parts and the keys only the API uses."""

    hub_signing_key: RSAKey
    """Signs the ID tokens the control plane issues to project hubs."""
    release_signing_key: SigningKey
    """Signs egress release manifests; its public half is published."""
    grant_key: bytes
    """Checks the grants with which workspaces fetch their extracts."""
    audit: AuditConfig
    """Retention, checkpoint interval and witness of the audit log (no signing key read)."""

    @classmethod
    def build(cls, settings: Settings, engine: Engine | None = None) -> ApiPlatform:
        parts = _shared(settings, engine, "api")
        return cls(**parts,
                   hub_signing_key=load_signing_key(settings.keys.files.hub_oidc),
                   release_signing_key=SigningKey.load_or_create(
                       require_key_file(settings, "release_signing")),
                   grant_key=grant_key(settings),
                   audit=AuditConfig.from_settings(settings))


def _shared(settings: Settings, engine: Engine | None, process: Process) -> dict:
    require_key_files(settings, process)  # its keys fit; production: mounted, none made up
    engine = engine or get_engine()
    store, keys = object_store(settings), key_store(settings)
    return {"settings": settings, "engine": engine, "object_store": store, "key_store": keys,
            "secret_box": SecretBox.load_or_create(settings.keys.files.secret_box),
            "data_plane": ProjectDataPlane(engine, settings, store=store, keys=keys)}
