"""The composition root's parts as FastAPI dependencies.

:func:`spe.api.app.create_api` builds one :class:`spe.platform.ApiPlatform` at start-up
(``app.state.platform``); a route names the part it needs (``settings: SettingsDep``,
``store: ObjectStoreDep``, …) and receives the part built then, never one made or read
from disk for the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from joserfc.jwk import RSAKey

from spe.airlock import staging
from spe.audit.config import AuditConfig
from spe.crypto.secretbox import SecretBox
from spe.crypto.signing import SigningKey
from spe.dataplane import ProjectDataPlane
from spe.platform import ApiPlatform
from spe.settings import Settings
from spe.storage import ObjectStore


def platform(request: Request) -> ApiPlatform:
    return request.app.state.platform


PlatformDep = Annotated[ApiPlatform, Depends(platform)]


def _settings(root: PlatformDep) -> Settings:
    return root.settings


def _object_store(root: PlatformDep) -> ObjectStore:
    """Sources, extracts, quarantine and releases (``SPE_STORAGE_*``): one store every replica
    sees."""
    return root.object_store


def _data_plane(root: PlatformDep) -> ProjectDataPlane:
    return root.data_plane


def _secret_box(root: PlatformDep) -> SecretBox:
    return root.secret_box


def _hub_signing_key(root: PlatformDep) -> RSAKey:
    return root.hub_signing_key


def _release_signing_key(root: PlatformDep) -> SigningKey:
    return root.release_signing_key


def _grant_key(root: PlatformDep) -> bytes:
    return root.grant_key


def _audit(root: PlatformDep) -> AuditConfig:
    return root.audit


def _staging_root(root: PlatformDep) -> Path:
    """Where this process stages uploads (``<data_dir>/staging``, swept after a crash)."""
    return staging.root(root.settings)


SettingsDep = Annotated[Settings, Depends(_settings)]
ObjectStoreDep = Annotated[ObjectStore, Depends(_object_store)]
DataPlaneDep = Annotated[ProjectDataPlane, Depends(_data_plane)]
SecretBoxDep = Annotated[SecretBox, Depends(_secret_box)]
HubSigningKeyDep = Annotated[RSAKey, Depends(_hub_signing_key)]
ReleaseKeyDep = Annotated[SigningKey, Depends(_release_signing_key)]
GrantKeyDep = Annotated[bytes, Depends(_grant_key)]
AuditDep = Annotated[AuditConfig, Depends(_audit)]
StagingDep = Annotated[Path, Depends(_staging_root)]
