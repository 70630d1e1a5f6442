"""The airlock's replays: the project's current extract as the replay engine reads it.

On submission the SDC checks make each analysis-library table again on the project's extract
(:mod:`egress.replay`), here on the control plane, where the extract is decrypted for the
workspace's grant: the workspace gains no key. :class:`ProjectExtract` reads one table's
columns of the extract the project's condition says is ready, verified against its signed
manifest, and refuses (the table is then not replayable, never passed):

- when the permit is not active (suspended, revoked, expired, not yet valid);
- when the extract is not ready, or its manifest does not verify;
- over the memory bound (``SPE_EGRESS_REPLAY_MAX_BYTES``): the encrypted file's size before
  it is decrypted, then the in-memory size of the columns from the Parquet metadata.

The time bound (``SPE_EGRESS_REPLAY_SECONDS``) is the engine's. Every replay is audited
(``egress.replay``: who submitted, which extract, which specification, what it found).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import Session

from egress.replay.engine import NotReplayable, read_parquet, why
from spe.audit import record
from spe.data import ManifestError
from spe.data.encryption import decrypt_stream
from spe.dataplane import CONDITION, ProjectDataPlane
from spe.dataplane.files import verified_ciphertext
from spe.domain.permits import Permit
from spe.domain.principal import Principal
from spe.domain.projects import DesiredState, Project, desired_state
from spe.errors import TerminalError
from spe.messages import Message
from spe.settings import Settings
from spe.storage import StorageError

AUDITED_SPEC = ("table", "rows", "columns", "statistic", "values", "where", "derived")


@dataclass(frozen=True)
class Bounds:
    seconds: float
    max_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Bounds:
        return cls(settings.egress_replay_seconds, settings.egress_replay_max_bytes)


@dataclass(frozen=True)
class Replays:
    """What the airlock replays with: the data plane and the bounds."""

    plane: ProjectDataPlane
    bounds: Bounds

    def extract(self, project: Project, permit: Permit) -> ProjectExtract:
        return ProjectExtract(self.plane, project, permit, self.bounds)


class ProjectExtract:
    """One project's current extract, for the replay engine (:class:`egress.replay.engine.
    ExtractTables`)."""

    def __init__(self, plane: ProjectDataPlane, project: Project, permit: Permit,
                 bounds: Bounds) -> None:
        self.plane, self.project, self.permit, self.bounds = plane, project, permit, bounds
        condition = project.conditions.get(CONDITION, {})
        self.extract_id = condition.get("extract_id")
        self.key_id = condition.get("key_id")
        self.refused = desired_state(permit) is not DesiredState.ready
        self.refusal = (Message("permit {reference} is not active: replays are refused",
                                reference=permit.reference) if self.refused else None)
        if self.refusal is None and (condition.get("state") != "ready" or not self.extract_id):
            self.refusal = Message("the project's extract is not ready")
        self.about = {"extract_id": self.extract_id, "permit_reference": permit.reference}
        self._decrypted: tuple[str, pa.Buffer] | None = None  # the last table read: a
        # request's tables mostly read the same one

    def read(self, name: str, columns: list[str], deadline: float) -> pa.Table:
        if self.refusal:
            raise NotReplayable(self.refusal)
        try:
            manifest = self.plane.manifest(self.project.id, self.extract_id,
                                           permit_reference=self.permit.reference,
                                           key_id=self.key_id)
        except (ManifestError, StorageError) as exc:
            raise NotReplayable(Message("the extract's manifest is refused: {error}",
                                        error=why(exc))) from exc
        entry = next((f for f in manifest["files"] if f["name"] == name), None)
        if entry is None:
            raise NotReplayable(Message("no extract table {name!r} in extract {extract_id}",
                                        name=name, extract_id=self.extract_id))
        if entry["size"] > self.bounds.max_bytes:
            raise NotReplayable(Message("over the memory bound: extract table {name!r} is "
                                        "{size} bytes encrypted, at most {max_bytes}",
                                        name=name, size=entry["size"],
                                        max_bytes=self.bounds.max_bytes))
        plaintext = self._decrypt(name, entry)
        if time.monotonic() > deadline:
            raise NotReplayable(Message("over the time bound while decrypting the extract"))
        try:
            self._fits(pq.ParquetFile(pa.BufferReader(plaintext)).metadata, name, columns)
            return read_parquet(pa.BufferReader(plaintext), name, columns)
        except pa.ArrowException as exc:
            raise NotReplayable(Message("extract table {name!r} cannot be read: {error}",
                                        name=name, error=why(exc))) from exc

    def _decrypt(self, name: str, entry: dict[str, Any]) -> pa.Buffer:
        """The table's plaintext Parquet, in memory (never on disk)."""
        if self._decrypted is not None and self._decrypted[0] == entry["sha256"]:
            return self._decrypted[1]
        self._decrypted = None
        try:
            data_key = self.plane.data_key(self.project.id)
            plaintext = io.BytesIO()
            with verified_ciphertext(self.plane.store, entry) as ciphertext:
                decrypt_stream(ciphertext, plaintext, data_key.plaintext)
        except (TerminalError, StorageError, ValueError) as exc:
            raise NotReplayable(Message("extract table {name!r} cannot be decrypted: {error}",
                                        name=name, error=why(exc))) from exc
        self._decrypted = (entry["sha256"], pa.py_buffer(plaintext.getbuffer()))
        return self._decrypted[1]

    def _fits(self, metadata: pq.FileMetaData, name: str, columns: list[str]) -> None:
        """The columns' uncompressed size, from the Parquet metadata, within the bound."""
        wanted = set(columns)
        size = 0
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                if chunk.path_in_schema.split(".")[0] in wanted:
                    size += chunk.total_uncompressed_size
        if size > self.bounds.max_bytes:
            raise NotReplayable(Message("over the memory bound: the columns read of extract "
                                        "table {name!r} take {size} bytes, at most {max_bytes}",
                                        name=name, size=size, max_bytes=self.bounds.max_bytes))


def audit_replays(session: Session, project_id: str, request_id: str,
                  records: dict[str, dict[str, Any]], principal: Principal,
                  extract: ProjectExtract | None) -> int:
    """One ``egress.replay`` event per file the checks replayed (or refused to); returns how
    many. ``denied`` when the permit was not active."""
    count = 0
    for name, r in records.items():
        replayed = r.get("replay")
        if replayed is None:
            continue
        spec = replayed.get("spec") or {}
        refused = extract is not None and extract.refused
        record(session, action="egress.replay", actor=principal.actor(),
               outcome="denied" if refused else "success", target_type="extract",
               target_id=(replayed.get("extract") or {}).get("extract_id"),
               project_id=project_id,
               details={"request_id": request_id, "file": name, "sha256": r["sha256"],
                        "status": replayed["status"], "reason": replayed["reason"][:300],
                        "rows_read": replayed.get("rows_read"),
                        "seconds": replayed.get("seconds"),
                        "spec": {k: spec.get(k) for k in AUDITED_SPEC}})
        count += 1
    return count
