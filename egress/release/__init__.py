"""Releases as documents: the signed manifest and its Five Safes RO-Crate (publishing them
to storage is the airlock's: :mod:`spe.airlock.publish`)."""

from egress.release.manifest import (
    MANIFEST_FORMAT,
    ReleasedFile,
    build_manifest,
    manifest_bytes,
    sign_manifest,
    verify_manifest,
    verify_manifest_bytes,
)
from egress.release.rocrate import PROFILE, build_crate

__all__ = ["MANIFEST_FORMAT", "PROFILE", "ReleasedFile", "build_crate", "build_manifest",
           "manifest_bytes", "sign_manifest", "verify_manifest", "verify_manifest_bytes"]
