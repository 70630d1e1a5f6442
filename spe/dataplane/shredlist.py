"""The shred list: crypto-shredding that survives restoring an older backup.

Each crypto-shredding appends a ``data.shred`` event to the audit log whose details hold the
deletion record and its Ed25519 signature by the extract signing key
(:meth:`spe.dataplane.ProjectDataPlane.shred`). A backup of the database and of the wrapped
data keys taken *before* a project was shredded still holds that project's key: restoring it
would bring the project's extracts back to life (with the local key store; an HSM's
destroyed key stays destroyed).

So the operator exports those signed records (:func:`export`, ``python -m spe.dataplane.shredlist
export``) continuously, to storage that is not restored with the backups (the SIEM the audit
log is sent to, a WORM bucket), and after any restore applies the newest list
(:func:`apply`, ``python -m spe.dataplane.shredlist apply``) before the platform starts: every
listed project's key is destroyed again and its extracts deleted. A list whose signature does
not verify is refused as a whole: nothing is applied on evidence that cannot be checked.

The work-area keys destroyed when permits ended (``data.work_area.shred``,
:mod:`spe.dataplane.workareas`) are in the list too, and destroyed again the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.crypto.canonical import canonical_json
from spe.crypto.signing import SignatureError, key_id, load_public_key, verify
from spe.data.shred import shred_project
from spe.dataplane import config, workareas
from spe.db import make_engine
from spe.keys.base import KeyStore
from spe.settings import get_settings
from spe.storage.base import ObjectStore

FORMAT = "spe-shred-list/v1"
ACTION = "data.shred"
ACTIONS = (ACTION, workareas.ACTION)


class ShredListError(ValueError):
    """A shred list that cannot be trusted or read: nothing of it was applied."""


def export(session: Session) -> dict[str, Any]:
    """Every signed shredding record of the audit log, oldest first."""
    events = session.exec(select(AuditEvent).where(AuditEvent.action.in_(ACTIONS))
                          .order_by(AuditEvent.seq)).all()
    entries = []
    for e in events:
        if not e.details or "signature" not in e.details:
            raise ShredListError(f"audit event {e.seq} ({e.action}) has no signed record (body "
                                 "purged?): export the list before the retention purge")
        entries.append({"seq": e.seq, "record": e.details["record"],
                        "signature": e.details["signature"],
                        "signing_key_id": e.details["signing_key_id"]})
    return {"format": FORMAT, "entries": entries}


def verified_projects(shred_list: dict[str, Any], public_key: Ed25519PublicKey) -> list[str]:
    """The projects of ``shred_list``, once every entry's signature verifies."""
    return list(dict.fromkeys(str(r["project_id"])
                              for r in verified_records(shred_list, public_key)))


def verified_records(shred_list: dict[str, Any],
                     public_key: Ed25519PublicKey) -> list[dict[str, Any]]:
    """The records of ``shred_list``, once every entry's signature verifies."""
    if not isinstance(shred_list, dict) or shred_list.get("format") != FORMAT \
            or not isinstance(shred_list.get("entries"), list):
        raise ShredListError(f"not a shred list ({FORMAT})")
    records = []
    for i, entry in enumerate(shred_list["entries"]):
        try:
            record = entry["record"]
            if entry["signing_key_id"] != key_id(public_key):
                raise ShredListError(f"entry {i}: signed by key {entry['signing_key_id']}, "
                                     f"not {key_id(public_key)}")
            verify(public_key, canonical_json(record), entry["signature"])
            records.append({**record, "project_id": str(record["project_id"])})
        except (KeyError, TypeError) as exc:
            raise ShredListError(f"entry {i}: malformed ({exc})") from exc
        except SignatureError as exc:
            raise ShredListError(f"entry {i}: signature does not verify: {exc}") from exc
    return records


def apply(shred_list: dict[str, Any], public_key: Ed25519PublicKey, keys: KeyStore,
          store: ObjectStore) -> list[dict[str, Any]]:
    """Shred again every listed project (destroy its key, delete its extracts) and work area
    (destroy its key); what was done for each. Idempotent: a key already destroyed is
    reported, not an error."""
    records = verified_records(shred_list, public_key)
    work_areas = {r["project_id"] for r in records if r.get("format") == workareas.RECORD_FORMAT}
    projects = dict.fromkeys(r["project_id"] for r in records
                             if r.get("format") != workareas.RECORD_FORMAT)
    done = [shred_project(store, keys, project) for project in projects]
    destroyed = (workareas.destroy(keys, project) for project in sorted(work_areas))
    return done + [d for d in destroyed if d is not None]  # None: a backup before the key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spe.dataplane.shredlist",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("export", help="print the signed shred list of the configured database")
    applying = sub.add_parser("apply", help="shred again every project of a shred list")
    applying.add_argument("file", type=Path)
    applying.add_argument("--public-key", type=Path, required=True,
                          help="PEM of the extract signing key's public half")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "export":
        with Session(make_engine(settings.resolved_database_url)) as session:
            json.dump(export(session), sys.stdout, indent=1)
        return
    try:
        done = apply(json.loads(args.file.read_text(encoding="utf-8")),
                     load_public_key(args.public_key.read_bytes()),
                     config.key_store(settings), config.object_store(settings))
    except (ShredListError, ValueError, OSError) as exc:
        raise SystemExit(f"shred list refused, nothing applied: {exc}") from exc
    for record in done:
        if record["format"] == workareas.RECORD_FORMAT:
            print(f"{record['project_id']}: work-area key {record['key_id']} "
                  f"{'destroyed' if record['destroyed_now'] else 'already destroyed'}")
            continue
        print(f"{record['project_id']}: key {record['key_id']} "
              f"{'destroyed' if record['key_destroyed_now'] else 'already destroyed'}, "
              f"{record['object_count']} object(s) deleted")


if __name__ == "__main__":
    main()
