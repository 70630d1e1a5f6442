"""Witnesses: copies of the signed checkpoints kept where the database's operator cannot
rewrite them, and checked against the log.

A checkpoint in the database vouches for the log only while the checkpoint is there: a
superuser who deletes the checkpoints, or cuts the tail after the last one and recomputes
the head, leaves a log that verifies on its own. So each checkpoint is also written, as
soon as it is signed, to a *witness*:

- ``file:///folder`` (or a plain path): one file per checkpoint, created exclusively and
  read-only, in a folder an auditor pulls (rsync, a mounted share they own);
- ``s3://bucket/prefix``: one object per checkpoint in a bucket created with S3 Object Lock,
  each object written under a COMPLIANCE retention of the audit retention, so nobody (not
  even the bucket's owner) can delete or overwrite it before then. Every version is read
  back: an overwrite attempt on a versioned bucket shows as a second version, refused.

Each document (``spe-audit-witnessed`` v1) carries the checkpoint and, as C2SP
tlog-witness's add-checkpoint request does, the consistency proof from the previous
witnessed checkpoint: before writing, spe checks that the new checkpoint is consistent with
the witness's latest (a log that forked or shrank is refused, not published), and anyone
can check the whole chain offline (:func:`witnessed`). An independent party can cosign
what a witness holds with a key of its own (:mod:`spe.audit.cosign`). ``spe audit verify
--witness`` checks the log extends every witnessed checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from abc import ABC, abstractmethod
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from spe.audit import merkle
from spe.audit.checkpoints import Checkpoint, CheckpointError, verify_checkpoint
from spe.db.types import utcnow

DOCUMENT_TYPE = "spe-audit-witnessed"
SUFFIX = ".json"


class WitnessError(Exception):
    """The witness holds something that does not verify, or the log is not consistent with
    what it holds."""


class WitnessUnavailable(WitnessError):
    """The witness cannot be reached, read or written just now."""


def name_of(tree_size: int) -> str:
    return f"{tree_size:020d}{SUFFIX}"


class Witness(ABC):
    """Write-once storage of witnessed checkpoint documents, one per tree size."""

    description: str

    @abstractmethod
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` once; the same bytes again are a no-op, other bytes
        a :class:`WitnessError`."""

    @abstractmethod
    def names(self, start_after: str | None = None) -> list[str]:
        """Every stored name (after ``start_after``), sorted."""

    @abstractmethod
    def read(self, name: str) -> list[bytes]:
        """Every version stored under ``name`` (one, unless someone tried to overwrite;
        none if there is no such name)."""


class FolderWitness(Witness):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.description = f"witness folder {folder}"

    def put(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".tmp-", delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            os.chmod(tmp.name, 0o444)
            os.link(tmp.name, target)  # fails if the name exists: never replaced
        except FileExistsError:
            if target.read_bytes() != data:
                raise WitnessError(f"{self.description} already holds another {name}") \
                    from None
        except OSError as exc:
            raise WitnessUnavailable(f"cannot write {target}: {exc.strerror}") from exc
        finally:
            os.unlink(tmp.name)

    def names(self, start_after: str | None = None) -> list[str]:
        try:
            return sorted(p.name for p in self.folder.iterdir()
                          if p.name.endswith(SUFFIX) and not p.name.startswith(".")
                          and (start_after is None or p.name > start_after))
        except FileNotFoundError:
            return []  # nothing witnessed yet: put() creates it
        except OSError as exc:
            raise WitnessUnavailable(f"cannot list {self.description}: {exc.strerror}") \
                from exc

    def read(self, name: str) -> list[bytes]:
        try:
            return [(self.folder / name).read_bytes()]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WitnessUnavailable(f"cannot read {self.folder / name}: {exc.strerror}") \
                from exc


class S3Witness(Witness):
    """A bucket with Object Lock (created so with ``make_bucket(..., object_lock=True)``:
    S3 cannot turn it on later); objects are written under COMPLIANCE retention."""

    def __init__(self, client, bucket: str, prefix: str, retention: timedelta) -> None:
        self.client, self.bucket, self.prefix, self.retention = client, bucket, prefix, retention
        self.description = f"witness bucket s3://{bucket}/{prefix}"

    def _call(self, what: str, call, *args, **kwargs):
        from minio.error import MinioException

        try:
            return call(*args, **kwargs)
        except (MinioException, OSError) as exc:
            raise WitnessUnavailable(f"{self.description}: {what} failed: {exc}") from exc

    def put(self, name: str, data: bytes) -> None:
        import io

        from minio.commonconfig import COMPLIANCE
        from minio.retention import Retention

        existing = self.read(name)
        if existing:
            if any(version != data for version in existing):
                raise WitnessError(f"{self.description} already holds another {name}")
            return
        until = (utcnow() + self.retention).replace(microsecond=0)
        self._call("writing " + name, self.client.put_object, self.bucket, self.prefix + name,
                   io.BytesIO(data), len(data), content_type="application/json",
                   retention=Retention(COMPLIANCE, until))

    def names(self, start_after: str | None = None) -> list[str]:
        after = None if start_after is None else self.prefix + start_after
        objects = self._call("listing", lambda: list(self.client.list_objects(
            self.bucket, prefix=self.prefix, recursive=True, start_after=after)))
        return sorted(o.object_name[len(self.prefix):] for o in objects
                      if o.object_name.endswith(SUFFIX))

    def read(self, name: str) -> list[bytes]:
        key = self.prefix + name
        versions = self._call("listing versions of " + name, lambda: [
            o.version_id for o in self.client.list_objects(
                self.bucket, prefix=key, include_version=True) if o.object_name == key])
        out = []
        for version in versions:
            response = self._call("reading " + name, self.client.get_object, self.bucket, key,
                                  version_id=version)
            try:
                out.append(response.read())
            finally:
                response.close()
                response.release_conn()
        return out


def open_witness(spec: str, settings=None) -> Witness:
    """``file:///folder``, a plain folder path, or ``s3://bucket/prefix`` (on the S3 service
    and with the credentials of the storage settings)."""
    url = urlparse(spec)
    if url.scheme in ("", "file"):
        return FolderWitness(Path(url.path if url.scheme else spec))
    if url.scheme == "s3":
        if settings is None:
            from spe.settings import get_settings

            settings = get_settings()
        from minio import Minio

        from spe.storage import StorageConfig, resolved_secret_key
        from spe.storage.s3 import http_client

        config = StorageConfig.model_validate(  # the storage service, this bucket
            {**settings.storage.model_dump(), "backend": "s3", "bucket": url.netloc})
        client = Minio(config.endpoint, access_key=config.access_key,
                       secret_key=resolved_secret_key(config), region=config.region,
                       secure=config.secure, cert_check=config.cert_check,
                       http_client=http_client(config.connect_timeout_seconds,
                                               config.read_timeout_seconds,
                                               config.cert_check))
        prefix = url.path.lstrip("/")
        prefix = prefix + "/" if prefix and not prefix.endswith("/") else prefix
        return S3Witness(client, url.netloc, prefix,
                         timedelta(days=settings.audit_retention_days))
    raise ValueError(f"a witness is file:///folder or s3://bucket/prefix, not {spec!r}")


def document(cp: Checkpoint, previous: Checkpoint | None, proof: list[bytes]) -> bytes:
    return json.dumps({"type": DOCUMENT_TYPE, "v": 1, "checkpoint": cp.to_json(),
                       "previous": None if previous is None else {
                           "tree_size": previous.tree_size, "proof": [p.hex() for p in proof]}},
                      sort_keys=True).encode() + b"\n"


def _parse(name: str, data: bytes, public_key: Ed25519PublicKey
           ) -> tuple[Checkpoint, int | None, list[bytes]]:
    try:
        doc = json.loads(data)
        if doc.get("type") != DOCUMENT_TYPE or doc.get("v") != 1:
            raise ValueError("not a witnessed checkpoint (version 1)")
        cp = Checkpoint.from_json(doc["checkpoint"])
        previous = doc["previous"]
        old = None if previous is None else int(previous["tree_size"])
        proof = [] if previous is None else [bytes.fromhex(p) for p in previous["proof"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WitnessError(f"{name} is malformed: {exc}") from exc
    if name != name_of(cp.tree_size):
        raise WitnessError(f"{name} holds the checkpoint at size {cp.tree_size}")
    try:
        verify_checkpoint(cp, public_key)
    except CheckpointError as exc:
        raise WitnessError(f"{name}: {exc}") from exc
    return cp, old, proof


def witnessed(witness: Witness, public_key: Ed25519PublicKey) -> list[Checkpoint]:
    """Every witnessed checkpoint, by size, after checking: one version per name, each
    signed with ``public_key``, and each consistent with the one before it (its proof)."""
    out: list[Checkpoint] = []
    for name in witness.names():
        versions = witness.read(name)
        if len(set(versions)) != 1:
            raise WitnessError(f"{witness.description}: {name} was overwritten "
                               f"({len(versions)} versions)")
        cp, old, proof = _parse(name, versions[0], public_key)
        if out:
            prev = out[-1]
            if old != prev.tree_size:
                raise WitnessError(f"{name} follows size {old}, the witness's previous "
                                   f"checkpoint is at {prev.tree_size}")
            try:
                merkle.verify_consistency(prev.tree_size, cp.tree_size, prev.root_hash,
                                          cp.root_hash, proof)
            except merkle.MerkleError as exc:
                raise WitnessError(f"{name} is not consistent with the witnessed checkpoint "
                                   f"at size {prev.tree_size}: {exc}") from exc
        out.append(cp)
    return out


def latest(witness: Witness, public_key: Ed25519PublicKey, hint: int | None = None
           ) -> Checkpoint | None:
    """The witness's latest checkpoint (signature checked), or None. ``hint``: a size it
    probably holds (the database's latest), so that listing starts there, not at the
    first checkpoint of the year."""
    names = witness.names(name_of(hint - 1)) if hint else []
    names = names or witness.names()
    if not names:
        return None
    versions = witness.read(names[-1])
    if len(set(versions)) != 1:
        raise WitnessError(f"{witness.description}: {names[-1]} was overwritten")
    return _parse(names[-1], versions[0], public_key)[0]


def publish(witness: Witness, checkpoints: list[Checkpoint], fetch: merkle.Fetch,
            public_key: Ed25519PublicKey, hint: int | None = None) -> int:
    """Write the ``checkpoints`` the witness does not have yet, in order, each with the
    consistency proof from the one before; refuse (:class:`WitnessError`) one that is not
    consistent with the witness's latest (``hint``: as for :func:`latest`). Returns how
    many were written."""
    previous = latest(witness, public_key, hint)
    written = 0
    for cp in sorted(checkpoints, key=lambda c: c.tree_size):
        if previous is not None and cp.tree_size <= previous.tree_size:
            if cp.tree_size == previous.tree_size and cp.root_hash != previous.root_hash:
                raise WitnessError(f"the {witness.description} holds another root at size "
                                   f"{cp.tree_size}: the log forked")
            continue
        proof = [] if previous is None else merkle.consistency_proof(
            previous.tree_size, cp.tree_size, fetch)
        if previous is not None:
            try:
                merkle.verify_consistency(previous.tree_size, cp.tree_size,
                                          previous.root_hash, cp.root_hash, proof)
            except merkle.MerkleError as exc:
                raise WitnessError(f"the checkpoint at size {cp.tree_size} is not consistent "
                                   f"with the one the {witness.description} holds at "
                                   f"{previous.tree_size}: {exc}") from exc
        witness.put(name_of(cp.tree_size), document(cp, previous, proof))
        previous = cp
        written += 1
    return written
