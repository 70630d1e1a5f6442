"""Submitting a request and answering a return: stage, quarantine, check, record.

Files are staged under their sanitised names (in ``<data_dir>/staging``, see
:mod:`spe.airlock.staging`), copied into the project's quarantine by sha256 (content
addressed, so what is checked and reviewed is byte for byte what can be released) and checked
with the permit's policy pack against the project's release ledger; analysis-library tables
are replayed on the project's extract (:mod:`spe.airlock.replay`) when ``replays`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session

import policies
from spe.airlock import ledger, permissions, review, staging
from spe.airlock.intake import EgressLimits, StagedFile, Stager
from spe.airlock.models import EgressFile, EgressRequest
from spe.airlock.replay import Replays, audit_replays
from spe.domain.permits import Permit
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.storage.base import ObjectStore
from spe.storage.layout import quarantine_key

CHECKS = Principal.system("egress-checks")


@dataclass(frozen=True)
class Upload:
    name: str
    stream: BinaryIO
    description: str


def submit(session: Session, store: ObjectStore, staging_root: Path, project_id: str,
           principal: Principal, title: str, uploads: list[Upload],
           replays: Replays | None = None) -> EgressRequest:
    project, permit = permissions.check_can_use_project(session, project_id, principal)
    pack = policies.load("packs", permit.sdc_policy)
    limits = EgressLimits.from_pack(pack)
    with staging.folder(staging_root) as tmp:
        stager = Stager(tmp, limits)
        for upload in uploads:
            stager.add(upload.name, upload.stream, upload.description)
        staged = stager.files()
        review.check_can_submit(project, principal, staged)
        # the slow part (object store, checks, replays) before the first write: SQLite's one
        # writer and the rows this transaction locks are held only for the recording below
        for f in staged:
            _quarantine(store, project.id, f)
        extract = replays.extract(project, permit) if replays is not None else None
        records = _run_checks(session, project.id, pack["name"], tmp,
                              {f.name: f.sha256 for f in staged}, replays, extract)
        request = review.create_request(session, project, permit, principal, title, pack,
                                        limits.approvals_required,
                                        limits.permit_members_may_review, staged)
        _record_checks(session, request, records, principal, project, extract)
    return request


def replace(session: Session, store: ObjectStore, staging_root: Path, request: EgressRequest,
            file: EgressFile, principal: Principal, upload: Upload) -> EgressFile:
    """A new version of ``file`` (kept under its name) while changes are requested."""
    permissions.check_actor(request, permissions.REQUESTER, principal, ())
    permissions.check_can_use_project(session, request.project_id, principal)
    limits = EgressLimits.from_pack(policies.load("packs", request.pack_name))
    with staging.folder(staging_root) as tmp:
        stager = Stager(tmp, limits)
        stager.add(file.name, upload.stream, upload.description)
        (staged,) = stager.files()
        review.replace_file(session, request, file, staged, principal)
        _quarantine(store, request.project_id, staged)
    return file


def resubmit(session: Session, store: ObjectStore, staging_root: Path, request: EgressRequest,
             principal: Principal, replays: Replays | None = None) -> EgressRequest:
    """Send a returned request back; every file is checked again, from quarantine."""
    project, permit = permissions.check_can_use_project(session, request.project_id, principal)
    review.resubmit_request(session, request, principal)
    files = review.files_of(session, request.id)
    with ledger.materialised(store, staging_root, request.project_id, files) as root:
        _check(session, request, root, {f.name: f.sha256 for f in files}, principal,
               project, permit, replays)
    return request


def _quarantine(store: ObjectStore, project_id: str, staged: StagedFile) -> None:
    """Keep the bytes under their hash. Written even when the same content is there: a fresh
    object is one the orphan sweep (:mod:`spe.airlock.janitor`) leaves alone until this
    request has committed."""
    with staged.path.open("rb") as content:
        store.put(quarantine_key(project_id, staged.sha256), content, staged.size)


def _check(session: Session, request: EgressRequest, root: Path, names: dict[str, str],
           principal: Principal, project: Project, permit: Permit,
           replays: Replays | None) -> None:
    """Check every file, record the outcomes and audit each replay, in the request's
    transaction."""
    extract = replays.extract(project, permit) if replays is not None else None
    records = _run_checks(session, request.project_id, request.pack_name, root, names,
                          replays, extract)
    _record_checks(session, request, records, principal, project, extract)


def _run_checks(session: Session, project_id: str, pack_name: str, root: Path,
                names: dict[str, str], replays: Replays | None, extract) -> dict[str, dict]:
    return ledger.check(session, project_id, pack_name, root, names, extract=extract,
                        replay_seconds=replays.bounds.seconds if replays else 60.0)


def _record_checks(session: Session, request: EgressRequest, records: dict[str, dict],
                   principal: Principal, project: Project, extract) -> None:
    review.record_checks(session, request, records, CHECKS)
    audit_replays(session, project.id, request.id, records, principal, extract)
