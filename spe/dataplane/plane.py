"""The data plane the reconciler drives: prepare a project's extract, shred it.

:class:`ProjectDataPlane` implements :class:`controllers.reconciler.DataPlane`:

``prepare(project, permit)``
    From the permit's datasets and variables and each dataset's catalogue entry (direct
    identifiers pseudonymised), builds the extract with :func:`spe.data.prepare_extract` under
    ``projects/<id>/extracts/<extract id>/`` unless it exists. The extract id is a digest of
    what the extract is made of (permit reference, sources, variables), so an amendment that
    changes the data makes a new extract and a renewal does not. Progress is kept in the
    project's ``conditions["extract"]`` (percent), completion audited as
    ``data.extract.prepare``; older extracts of the project are then deleted (an amendment
    that drops a variable must drop it from the stored data too). With ``extract_dir`` (the
    local runtime), the decrypted files are also written there, read-only. Returns where the
    extract is and a grant to fetch it (:mod:`spe.dataplane.grants`).

``shred(project_id)``
    Destroys the project's data key, deletes its extract objects and appends a signed
    deletion record to the audit log (``data.shred``). Cheap and silent when nothing is left,
    since the reconciler calls it on every pass over a revoked project.

``work_area_key(project_id)``, ``shred_work_area(project_id)``
    The project's work-area key for a runtime that encrypts its volumes with it, and its
    destruction when the permit ends, with a signed record in the audit log
    (``data.work_area.shred``; :mod:`spe.dataplane.workareas`).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from spe.audit import Actor, record
from spe.audit.models import AuditEvent
from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SigningKey
from spe.data import ExtractError, ExtractSource, materialise, prepare_extract, shred_project
from spe.data.manifest import MANIFEST_NAME, load_manifest
from spe.data.shred import RECORD_FORMAT
from spe.dataplane import config, workareas
from spe.dataplane.grants import issue_grant
from spe.db import session_scope
from spe.db.types import utcnow
from spe.domain.datasets import Dataset
from spe.domain.permits import Permit, datasets_of
from spe.domain.projects import Project
from spe.errors import RetryableError, TerminalError
from spe.keys import KeyDestroyed, KeyNotFound, KeyStore, KeyStoreError
from spe.messages import Message
from spe.settings import Settings
from spe.storage import ObjectNotFound, ObjectStore, StorageError
from spe.storage.layout import extract_prefix, project_prefix
from workspaces.spec import ExtractRef

log = logging.getLogger(__name__)
ACTOR = Actor.system("dataplane")
CONDITION = "extract"
MARKER = ".spe-extract"
"""In a materialised extract directory: the id of the extract it holds."""
PROGRESS_INTERVAL = 0.5
AUDITED_KEYS = 20


@dataclass(frozen=True)
class Plan:
    extract_id: str
    sources: tuple[ExtractSource, ...]


def plan_extract(session: Session, permit: Permit) -> Plan:
    """What the permit's extract is made of; :class:`TerminalError` if a dataset of the
    permit is not in the catalogue or has no source yet."""
    sources = []
    for permitted in datasets_of(session, permit.id):
        dataset = session.get(Dataset, permitted.dataset)
        if dataset is None or not dataset.source_uri:
            raise TerminalError(f"dataset {permitted.dataset!r} has no source yet: a data "
                                "steward uploads it (POST /api/v1/datasets/{name}/sources)")
        sources.append(ExtractSource(
            dataset=dataset.name, object_key=dataset.source_uri,
            variables_kept=tuple(permitted.variables),
            direct_identifiers=tuple(dataset.direct_identifiers())))
    if not sources:
        raise TerminalError(f"permit {permit.reference} names no dataset")
    digest = hashlib.sha256(canonical_json({
        "permit_reference": permit.reference,
        "sources": [[s.dataset, s.object_key, list(s.variables_kept), list(s.pseudonymised)]
                    for s in sources]})).hexdigest()
    return Plan(extract_id=f"x-{digest[:16]}", sources=tuple(sources))


class ProjectDataPlane:
    def __init__(self, engine: Engine, settings: Settings, *, store: ObjectStore | None = None,
                 keys: KeyStore | None = None,
                 extract_dir: Callable[[str], Path | None] | None = None) -> None:
        self.engine, self.settings = engine, settings
        self.store = store or config.object_store(settings)
        self.keys = keys or config.key_store(settings)
        self.signing: SigningKey = config.signing_key(settings)
        self.extract_dir = extract_dir

    def delivering_to(self, extract_dir: Callable[[str], Path | None]) -> ProjectDataPlane:
        """This data plane (its store, keys and signing key), also writing each decrypted
        extract into ``extract_dir(project_id)`` (the local runtime's workspaces)."""
        plane = copy.copy(self)
        plane.extract_dir = extract_dir
        return plane

    # --- the reconciler's protocol --------------------------------------------------------
    def prepare(self, project: Project, permit: Permit) -> ExtractRef | None:
        with Session(self.engine) as session:
            plan = plan_extract(session, permit)
            current = dict(session.get(Project, project.id).conditions.get(CONDITION, {}))
        prefix = extract_prefix(project.id, plan.extract_id)
        if not (current.get("extract_id") == plan.extract_id
                and current.get("state") == "ready" and self._exists(prefix + MANIFEST_NAME)):
            self._build(project.id, permit, plan, prefix)
        if self.extract_dir is not None:
            self._materialise(project.id, plan.extract_id, prefix, permit.reference)
        grant, _ = issue_grant(config.grant_key(self.settings), project.id,
                               self.settings.extracts.grant_ttl_seconds)
        return ExtractRef(manifest_key=prefix + MANIFEST_NAME, grant_token=grant,
                          grant_url=f"{self.settings.api.public_url.rstrip('/')}/api/v1/projects/"
                                    f"{project.id}/extract")

    def shred(self, project_id: str) -> bool:
        prefix = f"{project_prefix(project_id)}extracts/"
        try:
            if not self.keys.exists(project_id) and not any(True for _ in
                                                            self.store.list(prefix)):
                return False
            try:
                done = shred_project(self.store, self.keys, project_id)
            except KeyNotFound:  # objects without a key (never wrapped): delete them all
                deleted = [{"key": i.key, "size": i.size} for i in self.store.list(prefix)]
                for item in deleted:
                    self.store.delete(item["key"])
                done = {"format": RECORD_FORMAT, "project_id": project_id, "key_id": None,
                        "key_destroyed_now": False, "keystore": self.keys.description,
                        "prefix": prefix,
                        "objects_deleted": deleted, "object_count": len(deleted),
                        "bytes_deleted": sum(i["size"] for i in deleted)}
        except StorageError as exc:
            raise RetryableError(f"shredding {project_id}: {exc}") from exc
        except KeyStoreError as exc:  # e.g. an unreadable or edited wrapped-key file
            raise TerminalError(f"shredding {project_id} refused, nothing destroyed or "
                                f"deleted; a person must look: {exc}") from exc
        summary = shred_summary(done)
        with session_scope(self.engine) as session:
            record(session, action="data.shred", actor=ACTOR, target_type="project",
                   target_id=project_id, project_id=project_id,
                   details={"record": summary, "signature": self.signing.sign(
                       canonical_json(summary)), "signing_key_id": self.signing.key_id})
            self._set_condition(session, project_id, state="shredded",
                                key_id=done["key_id"], objects_deleted=done["object_count"])
        log.info("project %s shredded: key %s, %d objects", project_id, done["key_id"],
                 done["object_count"])
        return True

    def work_area_key(self, project_id: str) -> str:
        try:
            return workareas.passphrase(self.keys, project_id)
        except KeyStoreError as exc:
            raise TerminalError(f"the work-area key of {project_id}: {exc}") from exc

    def shred_work_area(self, project_id: str) -> bool:
        """Destroy the project's work-area key and record it, signed; False if there was
        nothing to destroy or record."""
        try:
            done = workareas.destroy(self.keys, project_id)
        except KeyStoreError as exc:
            raise TerminalError(f"shredding the work areas of {project_id} refused, nothing "
                                f"destroyed; a person must look: {exc}") from exc
        if done is None:
            return False
        with session_scope(self.engine) as session:
            if not done["destroyed_now"] and session.exec(select(AuditEvent.seq).where(
                    AuditEvent.action == workareas.ACTION,
                    AuditEvent.project_id == project_id)).first() is not None:
                return False  # destroyed and recorded on an earlier pass
            record(session, action=workareas.ACTION, actor=ACTOR, target_type="project",
                   target_id=project_id, project_id=project_id,
                   details={"record": done, "signature": self.signing.sign(
                       canonical_json(done)), "signing_key_id": self.signing.key_id})
        log.info("project %s: work-area key %s destroyed", project_id, done["key_id"])
        return True

    # --- for the grant endpoint -----------------------------------------------------------
    def manifest(self, project_id: str, extract_id: str, *, permit_reference: str,
                 key_id: str | None) -> dict[str, Any]:
        """The extract's manifest, verified and bound to this prefix, permit and key
        (:class:`spe.data.ManifestError` otherwise)."""
        return load_manifest(self.store, extract_prefix(project_id, extract_id),
                             self.signing.public_key, permit_reference=permit_reference,
                             key_id=key_id)

    def data_key(self, project_id: str):
        try:
            return self.keys.unwrap(project_id)
        except (KeyNotFound, KeyDestroyed) as exc:
            raise TerminalError(f"project {project_id} has no usable data key: {exc}") from exc

    # --- internals ------------------------------------------------------------------------
    def _exists(self, key: str) -> bool:
        try:
            self.store.stat(key)
        except ObjectNotFound:
            return False
        except StorageError as exc:
            raise RetryableError(f"object store: {exc}") from exc
        return True

    def _key_for_new_extract(self, project_id: str):
        try:
            return self.keys.create_data_key(project_id) if not self.keys.exists(project_id) \
                else self.keys.unwrap(project_id)
        except KeyDestroyed as exc:
            raise TerminalError(f"project {project_id} was shredded: {exc}") from exc

    def _build(self, project_id: str, permit: Permit, plan: Plan, prefix: str) -> None:
        data_key = self._key_for_new_extract(project_id)
        base = {"extract_id": plan.extract_id, "permit_version": permit.version}
        self._condition(project_id, state="preparing", percent=0, rows_done=0, **base)
        started = time.monotonic()
        try:
            manifest = prepare_extract(
                self.store, plan.sources, permit_reference=permit.reference,
                master_secret=config.master_secret(self.settings), data_key=data_key,
                prefix=prefix, signing_key=self.signing,
                progress=self._progress_recorder(project_id, base))
        except ObjectNotFound as exc:
            self._failed(project_id, base, str(exc))
            raise TerminalError(f"extract of {project_id}: a source is missing: {exc}") from exc
        except StorageError as exc:  # the store away: the next pass resumes where this stopped
            self._condition(project_id, state="preparing", percent=None,
                            message=f"object store unavailable, retrying: {exc}"[:500], **base)
            raise RetryableError(f"extract of {project_id}: object store: {exc}") from exc
        except (ExtractError, pa.ArrowException, ValueError) as exc:
            self._failed(project_id, base, exc.args[0] if exc.args and isinstance(
                exc.args[0], Message) else str(exc))
            raise TerminalError(f"extract of {project_id}: {exc}") from exc
        removed = self._drop_other_extracts(project_id, prefix)
        rows = sum(f["rows"] for f in manifest["files"])
        with session_scope(self.engine) as session:
            record(session, action="data.extract.prepare", actor=ACTOR, target_type="extract",
                   target_id=plan.extract_id, project_id=project_id,
                   details={**base, "permit_reference": permit.reference,
                            "key_id": manifest["key_id"], "rows": rows,
                            "files": [{"name": f["name"], "rows": f["rows"],
                                       "pseudonymised": f["pseudonymised"]}
                                      for f in manifest["files"]],
                            "older_objects_deleted": removed,
                            "seconds": round(time.monotonic() - started, 3)})
            self._set_condition(session, project_id, state="ready", percent=100,
                                rows_done=rows, rows_total=rows, key_id=manifest["key_id"],
                                **base)

    def _failed(self, project_id: str, base: dict, message: str | Message) -> None:
        with session_scope(self.engine) as session:
            record(session, action="data.extract.prepare", actor=ACTOR, outcome="error",
                   target_type="extract", target_id=base["extract_id"], project_id=project_id,
                   details={**base, "reason": message[:500]})
            said = {"message_json": message.as_json()} if isinstance(message, Message) else {}
            self._set_condition(session, project_id, state="failed", message=message[:500],
                                **said, **base)

    def _progress_recorder(self, project_id: str, base: dict):
        last = {"at": 0.0, "percent": -1}

        def progress(done: int, total: int | None) -> None:
            percent = int(done * 100 / total) if total else None
            now = time.monotonic()
            if percent != last["percent"] and now - last["at"] >= PROGRESS_INTERVAL:
                last.update(at=now, percent=percent)
                self._condition(project_id, state="preparing", percent=percent,
                                rows_done=done, rows_total=total, **base)

        return progress

    def _drop_other_extracts(self, project_id: str, keep: str) -> int:
        stale = [i.key for i in self.store.list(f"{project_prefix(project_id)}extracts/")
                 if not i.key.startswith(keep)]
        for key in stale:
            self.store.delete(key)
        return len(stale)

    def _materialise(self, project_id: str, extract_id: str, prefix: str,
                     permit_reference: str) -> None:
        """Decrypt the extract into the local workspace's extract directory, read-only."""
        target = self.extract_dir(project_id)
        if target is None:  # this runtime's workspaces fetch it themselves
            return
        marker = target / MARKER
        if marker.exists() and marker.read_text() == extract_id:
            return
        target.mkdir(parents=True, exist_ok=True)
        target.chmod(0o755)
        for old in target.iterdir():
            old.unlink()
        materialise(self.store, prefix, self.data_key(project_id), self.signing.public_key,
                    target, permit_reference=permit_reference)
        marker.write_text(extract_id)
        marker.chmod(0o444)
        target.chmod(0o555)

    def _condition(self, project_id: str, **fields: Any) -> None:
        with session_scope(self.engine) as session:
            self._set_condition(session, project_id, **fields)

    @staticmethod
    def _set_condition(session: Session, project_id: str, **fields: Any) -> None:
        project = session.get(Project, project_id)
        project.conditions = {**project.conditions,
                              CONDITION: {**fields, "updated_at": utcnow().isoformat()}}
        session.add(project)


def shred_summary(done: dict[str, Any]) -> dict[str, Any]:
    """The deletion record as audited: counts, key id, a digest of every object deleted and
    the first keys by name (audit details are small); never a secret."""
    objects = done["objects_deleted"]
    return {
        "format": done["format"], "project_id": done["project_id"], "key_id": done["key_id"],
        "destroyed_now": done["key_destroyed_now"], "keystore": done["keystore"],
        "prefix": done["prefix"],
        "object_count": done["object_count"], "bytes_deleted": done["bytes_deleted"],
        "objects_sha256": hashlib.sha256(canonical_json(objects)).hexdigest(),
        "objects": [o["key"].removeprefix(done["prefix"]) for o in objects[:AUDITED_KEYS]],
    }
