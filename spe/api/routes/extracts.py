"""Extracts and dataset sources.

* ``GET /api/v1/projects/{id}/extract`` and ``…/extract/files/{name}``: a workspace fetches
  its decrypted extract with the project's grant (``Authorization: Bearer <grant>``, see
  :mod:`spe.dataplane.grants`), refused once the permit is no longer active. The files are
  decrypted here: the workspace never holds the key-encryption key, the project's data key,
  the pseudonymisation secret or storage credentials.
* ``GET /api/v1/projects/{id}/extract/status``: how far the extract is (staff, and the
  project's researchers).
* ``POST`` / ``PUT /api/v1/datasets/{name}/sources``: a data steward uploads a source file
  (CSV or Parquet), or points at one already in the object store; it is kept only if its
  columns match the catalogue (:mod:`spe.data.sources`), else 422 with every problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from spe.api import changes
from spe.api.body_limit import SOURCE_UPLOAD_BYTES
from spe.api.deps import SessionDep, allow, allow_protocol, commit
from spe.api.platform import DataPlaneDep, SettingsDep, platform
from spe.audit import Actor, record
from spe.auth.authenticate import bearer_token
from spe.data.manifest import ManifestError
from spe.data.sources import SourceObject, register_existing, upload_source
from spe.dataplane import CONDITION, ProjectDataPlane, check_grant
from spe.dataplane.files import decrypted_chunks, verified_ciphertext
from spe.db import session_scope
from spe.domain.access import get_visible_project
from spe.domain.datasets import get_dataset, set_source
from spe.domain.permits import Permit
from spe.domain.principal import Principal
from spe.domain.projects import DesiredState, Project, desired_state
from spe.domain.roles import Role
from spe.errors import Conflict, Forbidden, InvalidInput, NotFound, SpeError, TerminalError
from spe.messages import Message
from spe.storage import ObjectNotFound
from spe.storage.layout import InvalidKeyComponent, parse_source_key

router = APIRouter(prefix="/api/v1", tags=["extracts"])
Reader = Annotated[Principal, allow(*Role)]
Steward = Annotated[Principal, allow(Role.admin, Role.data_steward)]
Grant = Annotated[None, allow_protocol("extract-grant")]
PARQUET = "application/vnd.apache.parquet"


Plane = DataPlaneDep  # the composition root's, built at start-up


class ExtractStatus(BaseModel):
    project_id: str
    state: str = Field(description="absent, preparing, ready, failed or shredded")
    percent: int | None = Field(None, description="Rows done over rows to do (None while "
                                "a CSV source leaves the total unknown).")
    rows_done: int | None = None
    rows_total: int | None = None
    extract_id: str | None = None
    permit_version: int | None = None
    message: str | None = None
    updated_at: datetime | None = None


class ExtractFile(BaseModel):
    name: str
    filename: str
    rows: int
    columns: list[dict[str, str]]
    pseudonymised: list[str]
    url: str


class ExtractIndex(BaseModel):
    project_id: str
    extract_id: str
    permit_reference: str
    pseudonymisation_method: str
    files: list[ExtractFile]


class SourcePublic(BaseModel):
    dataset: str
    object_key: str
    size: int
    etag: str
    format: str
    rows: int


class SourceRef(BaseModel):
    object_key: str = Field(max_length=300, description="`sources/<dataset>/<file>`")
    format: Literal["csv", "parquet"] | None = Field(
        None, description="Default: from the file name's extension.")


# --- the workspace's grant ----------------------------------------------------------------

def _granted(request: Request, session: Session, project_id: str) -> dict[str, Any]:
    """The project's ready extract condition, if the request carries a live grant and the
    permit is active; every refusal is audited."""
    actor = Actor.component(f"workspace:{project_id}"[:200])
    try:
        check_grant(platform(request).grant_key, bearer_token(request) or "", project_id)
        project = session.get(Project, project_id)
        permit = session.get(Permit, project.permit_id) if project else None
        if permit is None or desired_state(permit) is not DesiredState.ready:
            raise Forbidden(Message("the permit of project {project_id} is not active",
                                    project_id=project_id),
                            code="extract.permit_inactive")
        condition = project.conditions.get(CONDITION, {})
        if condition.get("state") != "ready":
            raise Conflict(Message("the extract of {project_id} is not ready",
                                   project_id=project_id), code="extract.not_ready")
    except SpeError as exc:
        with session_scope(request.app.state.engine) as audit:
            record(audit, action="data.extract.fetch", actor=actor, outcome="denied",
                   target_type="project", target_id=project_id,
                   project_id=project_id if isinstance(exc, (Forbidden, Conflict)) else None,
                   details={"code": exc.code})
        raise
    return {**condition, "permit_reference": permit.reference}


def _manifest(request: Request, plane: ProjectDataPlane, project_id: str,
              condition: dict[str, Any], key_id: str | None) -> dict[str, Any]:
    """The extract's manifest, refused (409, audited) unless it verifies as the extract of
    this project's prefix, permit and key with every object under its prefix."""
    try:
        return plane.manifest(project_id, condition["extract_id"],
                              permit_reference=condition["permit_reference"], key_id=key_id)
    except ManifestError as exc:
        with session_scope(request.app.state.engine) as audit:
            record(audit, action="data.extract.fetch",
                   actor=Actor.component(f"workspace:{project_id}"[:200]), outcome="denied",
                   target_type="extract", target_id=condition["extract_id"],
                   project_id=project_id, details={"code": "extract.manifest_refused",
                                                   "reason": str(exc)[:300]})
        raise Conflict(Message("the extract of {project_id} is refused: {exc}",
                               project_id=project_id, exc=exc),
                       code="extract.manifest_refused") from exc


@router.get("/projects/{project_id}/extract",
            summary="Workspace: the extract's files (Authorization: Bearer <grant>)")
def extract_index(project_id: str, request: Request, session: SessionDep, plane: Plane,
                  _: Grant, settings: SettingsDep) -> ExtractIndex:
    condition = _granted(request, session, project_id)
    manifest = _manifest(request, plane, project_id, condition, condition.get("key_id"))
    base = settings.api.public_url.rstrip("/")
    return ExtractIndex(
        project_id=project_id, extract_id=condition["extract_id"],
        permit_reference=condition["permit_reference"],
        pseudonymisation_method=manifest["pseudonymisation"]["method"],
        files=[ExtractFile(name=f["name"], filename=f"{f['name']}.parquet", rows=f["rows"],
                           columns=f["columns"], pseudonymised=f["pseudonymised"],
                           url=f"{base}/api/v1/projects/{project_id}/extract/files/{f['name']}")
               for f in manifest["files"]])


@router.get("/projects/{project_id}/extract/files/{name}",
            summary="Workspace: one decrypted extract file, Parquet (with the grant)",
            response_class=StreamingResponse, responses={200: {
                "description": "The Parquet file", "content": {
                    "application/vnd.apache.parquet": {}}}})
def extract_file(project_id: str, name: str, request: Request, session: SessionDep,
                 plane: Plane, _: Grant) -> StreamingResponse:
    condition = _granted(request, session, project_id)
    try:
        data_key = plane.data_key(project_id)
    except TerminalError as exc:
        raise Conflict(Message("{error}", error=str(exc)), code="extract.key_unavailable") from exc
    manifest = _manifest(request, plane, project_id, condition, data_key.key_id)
    entry = next((f for f in manifest["files"] if f["name"] == name), None)
    if entry is None:
        raise NotFound(Message("the extract has no file {name!r}", name=name),
                       code="extract.file_not_found")
    ciphertext = verified_ciphertext(plane.store, entry)
    record(session, action="data.extract.fetch", actor=Actor.component(
        f"workspace:{project_id}"), target_type="extract", target_id=condition["extract_id"],
        project_id=project_id, details={"file": name, "rows": entry["rows"]})
    commit(session)
    return StreamingResponse(decrypted_chunks(ciphertext, data_key), media_type=PARQUET,
                             headers={"Content-Disposition":
                                      f'attachment; filename="{name}.parquet"'})


@router.get("/projects/{project_id}/extract/status", summary="How far the extract is")
def extract_status(project_id: str, principal: Reader, session: SessionDep) -> ExtractStatus:
    project, _ = get_visible_project(session, project_id, principal.subject, principal.roles)
    condition = project.conditions.get(CONDITION)
    if not condition:
        return ExtractStatus(project_id=project_id, state="absent")
    return ExtractStatus(project_id=project_id, **{k: v for k, v in condition.items()
                                                   if k in ExtractStatus.model_fields})


# --- dataset sources ----------------------------------------------------------------------

@contextmanager
def source_named_well() -> Iterator[None]:
    """A file or object name that cannot be a storage key is bad input (422)."""
    try:
        yield
    except InvalidKeyComponent as exc:
        raise InvalidInput(Message("{error}", error=str(exc)), code="source.invalid_name") from exc


def keep_source(session: Session, principal: Principal, dataset: str, source: SourceObject,
                how: str) -> SourcePublic:
    """Make ``source`` the dataset's source, audited (in the caller's transaction)."""
    set_source(session, dataset, source.key, actor=principal.actor())
    public = SourcePublic(dataset=dataset, object_key=source.key, size=source.size,
                          etag=source.etag, format=source.format, rows=source.rows)
    record(session, action="dataset.source.register", actor=principal.actor(),
           target_type="dataset", target_id=dataset,
           details={"how": how, "object": source.key, "size": source.size,
                    "etag": source.etag, "format": source.format, "rows": source.rows})
    return public


@router.post("/datasets/{name}/sources", status_code=201,
             summary="Upload a dataset's source file (CSV or Parquet), checked against the "
             "catalogue", max_body_size=SOURCE_UPLOAD_BYTES)
def upload(name: str, request: Request, principal: Steward, session: SessionDep, plane: Plane,
           file: Annotated[UploadFile, File(description="The CSV or Parquet file.")],
           format: Annotated[Literal["csv", "parquet"] | None, Form(
               description="Default: from the file name's extension.")] = None,
           ) -> SourcePublic:
    with changes.run(session, principal, "dataset.source.register", "dataset", name):
        dataset = get_dataset(session, name)
        filename = PurePath(file.filename or "").name
        with source_named_well():
            source = upload_source(plane.store, name, filename, file.file, dataset.variables,
                                   format or PurePath(filename).suffix.lstrip(".").lower())
        public = keep_source(session, principal, name, source, "upload")
    return public


@router.put("/datasets/{name}/sources",
            summary="Use an object already in storage as the dataset's source")
def register(name: str, body: SourceRef, request: Request, principal: Steward,
             session: SessionDep, plane: Plane) -> SourcePublic:
    with changes.run(session, principal, "dataset.source.register", "dataset", name):
        dataset = get_dataset(session, name)
        with source_named_well():
            if parse_source_key(body.object_key)[0] != name:
                raise InvalidInput(Message("{object_key} is not under sources/{name}/",
                                           object_key=body.object_key, name=name),
                                   code="source.other_dataset")
            try:
                source = register_existing(plane.store, body.object_key, dataset.variables,
                                           body.format)
            except ObjectNotFound as exc:
                raise NotFound(Message("no object {object_key}", object_key=body.object_key),
                               code="source.not_found") from exc
        public = keep_source(session, principal, name, source, "existing object")
    return public
