"""Releases: the signed manifest, its Five Safes RO-Crate, and verified reads from storage."""

from egress.release.manifest import (
    MANIFEST_FORMAT,
    ReleasedFile,
    build_manifest,
    manifest_bytes,
    sign_manifest,
    verify_manifest,
    verify_manifest_bytes,
)
from egress.release.publish import IntegrityFailure, publish, read_verified, released_key
from egress.release.rocrate import PROFILE, build_crate

__all__ = ["MANIFEST_FORMAT", "PROFILE", "IntegrityFailure", "ReleasedFile", "build_crate",
           "build_manifest", "manifest_bytes", "publish", "read_verified", "released_key",
           "sign_manifest", "verify_manifest", "verify_manifest_bytes"]
