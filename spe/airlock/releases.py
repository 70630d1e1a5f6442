"""Releasing an approved request, serving released files, and checkers' views of quarantine.

A suspended or ended permit freezes the airlock: no release, no download (409), until the
permit is resumed. Reads are audited like changes: a checker opening a quarantined file,
and a researcher downloading a released one, each append an event. Every byte served is
hashed first; content that does not match its recorded hash is refused
(:class:`spe.airlock.publish.IntegrityFailure`). CSV downloads neutralise formula cells
(:mod:`egress.neutralise`) unless the exact released bytes are asked for.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session

from egress.release import ReleasedFile, build_crate, build_manifest
from spe.airlock import ledger, permissions, review
from spe.airlock.models import EgressFile, EgressRelease, EgressRequest
from spe.airlock.publish import publish, read_verified, released_key
from spe.audit import record
from spe.crypto.signing import SigningKey
from spe.db.types import utcnow
from spe.domain.permits import members_of
from spe.domain.principal import Principal
from spe.errors import NotFound
from spe.messages import Message
from spe.storage.base import ObjectStore
from spe.storage.layout import quarantine_key


def release(session: Session, store: ObjectStore, staging_root: Path, key: SigningKey,
            request: EgressRequest, principal: Principal, platform_url: str) -> EgressRelease:
    """Sign and publish an approved request's releasable files; enter them in the ledger."""
    members = members_of(session, request.permit_id)
    review.check_can_transition(request, "release", principal, members)
    permissions.check_airlock_open(session, request)
    released_at = utcnow()
    release_id = uuid.uuid4().hex
    every_file = review.files_of(session, request.id)
    files = [f for f in every_file if not f.checker_only]
    manifest = build_manifest(
        release_id=release_id, request_id=request.id, project_id=request.project_id,
        title=request.title, permit_reference=request.permit_reference,
        permit_id=request.permit_id, pack_name=request.pack_name,
        pack_version=request.pack_version, requester=request.requester_subject,
        released_by=principal.subject, released_at=released_at.isoformat(),
        files=[_released(session, f) for f in files])
    crate = build_crate(manifest, platform_url=platform_url)
    signature = publish(store, key, manifest, crate)
    row = EgressRelease(id=release_id, request_id=request.id, project_id=request.project_id,
                        manifest=manifest, crate=crate, signature=signature,
                        signing_key_id=key.key_id, created_at=released_at)
    review.mark_released(session, request, principal, members, row)
    ledger.add_released(session, store, staging_root, request.project_id, request.pack_name,
                        files, every_file, release_id=release_id)
    return row


def _released(session: Session, file: EgressFile) -> ReleasedFile:
    votes = [{"reviewer": v.reviewer_subject, "decision": v.decision.value,
              "comment": v.comment, "justification": v.justification,
              "at": v.at.isoformat()} for v in review.current_votes(session, file)]
    return ReleasedFile(id=file.id, name=file.name, sha256=file.sha256, size=file.size,
                        description=file.description, check=file.check or {}, votes=votes)


def get_release(session: Session, release_id: str) -> EgressRelease:
    row = session.get(EgressRelease, release_id)
    if row is None:
        raise NotFound(Message("no release {release_id!r}", release_id=release_id),
                       code="egress.release_not_found")
    return row


def download(session: Session, store: ObjectStore, release_id: str, file_id: str,
             principal: Principal) -> tuple[str, str, BinaryIO]:
    """Name, sha256 and verified bytes of a released file: the requester, outside the
    workspace."""
    row = get_release(session, release_id)
    request = review.get_request(session, row.request_id)
    permissions.check_can_download(session, row, request, principal)
    file = review.get_file(session, request, file_id)
    entry = next((f for f in row.manifest["files"] if f["name"] == file.name), None)
    if entry is None:
        raise NotFound(Message("{file_name} is not part of release {row_id}", file_name=file.name,
                               row_id=row.id),
                       code="egress.not_released")
    content = read_verified(store, released_key(row.project_id, row.id, entry["sha256"]),
                            entry["sha256"], entry["size"])
    record(session, action="egress.release.download", actor=principal.actor(),
           target_type="egress_release", target_id=row.id, project_id=row.project_id,
           details={"file_id": file.id, "sha256": entry["sha256"]})
    return entry["name"], entry["sha256"], content


def open_quarantined(session: Session, store: ObjectStore, request: EgressRequest,
                     file: EgressFile, principal: Principal) -> BinaryIO:
    """A checker's view of a file under review (its current version), audited."""
    permissions.check_can_view_file(principal)
    content = read_verified(store, quarantine_key(request.project_id, file.sha256),
                            file.sha256, file.size)
    record(session, action="egress.file.view", actor=principal.actor(),
           target_type="egress_file", target_id=file.id, project_id=request.project_id,
           details={"request_id": request.id, "version": file.version})
    return content
