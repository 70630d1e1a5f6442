"""Where every object lives, as functions: the only place object keys are built.

    sources/<dataset>/<filename>                          a data holder's source file
    projects/<project>/extracts/<extract>/…               a project's encrypted extract
    projects/<project>/quarantine/<sha256>                an egress file, by content hash
    projects/<project>/releases/<release>/…               what was released
    staging/<upload>                                      an upload not yet checked

Everything a project owns sits under :func:`project_prefix`, so tearing a project down is
one prefix deletion. Each component is checked (:class:`InvalidKeyComponent`): no ``/``, no
``..``, nothing outside ``[A-Za-z0-9._-]``, so no value can escape its prefix.
"""

from __future__ import annotations

import re

_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

SOURCES = "sources"
PROJECTS = "projects"
STAGING = "staging"


class InvalidKeyComponent(ValueError):
    """A name that cannot be part of an object key."""


def component(value: str, what: str) -> str:
    """``value`` if it is a safe single key component, else :class:`InvalidKeyComponent`."""
    if not isinstance(value, str) or not _COMPONENT.fullmatch(value) or ".." in value:
        raise InvalidKeyComponent(
            f"invalid {what} {value!r}: use 1-128 characters from [A-Za-z0-9._-], "
            "starting with a letter or digit, without '..'")
    return value


def source_prefix(dataset: str) -> str:
    return f"{SOURCES}/{component(dataset, 'dataset name')}/"


def source_key(dataset: str, filename: str) -> str:
    return source_prefix(dataset) + component(filename, "file name")


def parse_source_key(key: str) -> tuple[str, str]:
    """``(dataset, filename)`` of a key made by :func:`source_key`, else InvalidKeyComponent."""
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] != SOURCES:
        raise InvalidKeyComponent(f"{key!r} is not a source key (sources/<dataset>/<file>)")
    return component(parts[1], "dataset name"), component(parts[2], "file name")


def staging_key(upload_id: str) -> str:
    """Where an upload waits, outside every dataset's prefix, until it has been checked."""
    return f"{STAGING}/{component(upload_id, 'upload id')}"


def project_prefix(project_id: str) -> str:
    return f"{PROJECTS}/{component(project_id, 'project id')}/"


def extract_prefix(project_id: str, extract_id: str) -> str:
    return f"{project_prefix(project_id)}extracts/{component(extract_id, 'extract id')}/"


def quarantine_key(project_id: str, sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidKeyComponent(f"invalid sha256 {sha256!r}: expected 64 lowercase hex digits")
    return f"{project_prefix(project_id)}quarantine/{sha256}"


def release_prefix(project_id: str, release_id: str) -> str:
    return f"{project_prefix(project_id)}releases/{component(release_id, 'release id')}/"
