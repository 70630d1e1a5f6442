"""The project's release ledger: checks run against it, releases are entered into it.

The SDC engine (:mod:`egress.checks`) does the arithmetic; this module keeps one ledger per
project in the database (``egress_ledgers``) and lays files out on disk the way the engine
expects them: a request's files under their names in one directory, each top-level entry
(a file, an ACRO output folder, another folder) passed as one path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import Session

from egress.checks import check_paths, released_tables
from egress.differencing import Ledger
from egress.errors import EgressError
from egress.record import make_record
from egress.replay.engine import ExtractTables
from egress.sdc.assess import Assessment
from egress.sdc.params import load_rules
from spe.airlock import staging
from spe.airlock.models import EgressFile, ReleaseLedger
from spe.airlock.publish import read_verified
from spe.db.types import utcnow
from spe.errors import InvalidInput
from spe.messages import Message
from spe.storage.base import ObjectStore
from spe.storage.layout import quarantine_key


def load(session: Session, project_id: str) -> Ledger:
    row = session.get(ReleaseLedger, project_id)
    return Ledger.from_json(row.ledger) if row is not None else Ledger()


def check(session: Session, project_id: str, pack_name: str,
          root: Path, names: dict[str, str], extract: ExtractTables | None = None,
          replay_seconds: float = 60.0) -> dict[str, dict]:
    """A check record per file name; ``names`` maps each name under ``root`` to its sha256.
    With ``extract``, analysis-library tables are replayed on it.

    Files the engine does not check itself (an ACRO folder's checksum files) get a record
    sending them to a person.
    """
    try:
        checked = check_paths(sorted(root.iterdir()), pack_name,
                              ledger=load(session, project_id), extract=extract,
                              replay_seconds=replay_seconds)
    except EgressError as exc:
        raise InvalidInput(Message("the automated checks could not run: {exc}", exc=exc),
                           code="egress.check_failed") from exc
    records = {r["file"]: r for r in checked}
    rules = load_rules(pack_name)
    for name, sha256 in names.items():
        if name not in records:
            note = Assessment(notes=[Message("not checked automatically (checker-only "
                                             "material); a person must look at it")])
            records[name] = make_record(name, sha256, "other", rules, note, at_least="review")
        elif records[name]["sha256"] != sha256:
            raise InvalidInput(Message("{name}: the checked content is not the submitted "
                                       "content", name=name),
                               code="egress.check_mismatch")
    return {name: records[name] for name in names}


def add_released(session: Session, store: ObjectStore, staging_root: Path, project_id: str,
                 pack_name: str, files: list[EgressFile], all_files: list[EgressFile], *,
                 release_id: str) -> int:
    """Enter the count tables among ``files`` (just released) into the project's ledger,
    each with its origin (release, request and file), so a checker can be shown it.

    ``all_files`` is the whole request, so sidecars lie beside their tables as at checking.
    Returns how many tables were added.
    """
    ledger = load(session, project_id)
    with materialised(store, staging_root, project_id, all_files) as root:
        tables = released_tables([f.check for f in files if f.check],
                                 sorted(root.iterdir()), pack_name)
    for table in tables:
        file = source_file(files, table.name)
        if file is not None:
            table.origin = {"release_id": release_id, "request_id": file.request_id,
                            "file_id": file.id}
        ledger.add(table)
    row = session.get(ReleaseLedger, project_id) or ReleaseLedger(project_id=project_id)
    row.ledger = ledger.to_json()
    row.updated_at = utcnow()
    session.add(row)
    return len(tables)


def source_file(files: list[EgressFile], table_name: str) -> EgressFile | None:
    """The file a table was read from: itself, or the ACRO folder holding it."""
    return next((f for f in files
                 if table_name == f.name or table_name.startswith(f"{f.name}/")), None)


@contextmanager
def materialised(store: ObjectStore, staging_root: Path, project_id: str,
                 files: list[EgressFile]) -> Iterator[Path]:
    """The files, verified from quarantine, under their names in a staging folder."""
    with staging.folder(staging_root) as root:
        for file in files:
            path = root / file.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with read_verified(store, quarantine_key(project_id, file.sha256), file.sha256,
                               file.size) as content, path.open("wb") as out:
                while chunk := content.read(1024 * 1024):
                    out.write(chunk)
        yield root
