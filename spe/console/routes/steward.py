"""The data steward's pages: the catalogue (register a dataset), a dataset's variables and
source, and uploading
a source file (a progress bar with JavaScript, a plain form without), its schema mismatches
shown column by column.

The upload goes through the API's own steps (``spe.api.routes.extracts``): the same check
against the catalogue, the same audit of the registration and of a refusal.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import select

from spe.api import changes
from spe.api.deps import SessionDep, allow
from spe.api.routes.extracts import Plane, keep_source, source_named_well
from spe.console import forms
from spe.console.web import render
from spe.data.sources import PROBLEM_KINDS, SourceRejected, upload_source
from spe.domain.datasets import (
    Classification,
    Dataset,
    DatasetCreate,
    VariableType,
    create_dataset,
    get_dataset,
)
from spe.domain.principal import Principal
from spe.domain.roles import Role

router = APIRouter(prefix="/console/datasets")
Reader = Annotated[Principal, allow(Role.admin, Role.data_steward, Role.permit_manager,
                                    Role.auditor)]
Steward = Annotated[Principal, allow(Role.admin, Role.data_steward)]
STEWARDS = frozenset({Role.admin, Role.data_steward})


@router.get("", response_class=HTMLResponse, summary="Console: the dataset catalogue")
def catalogue(request: Request, principal: Reader, session: SessionDep) -> HTMLResponse:
    rows = session.exec(select(Dataset).order_by(Dataset.name)).all()
    return render(request, "datasets.html", principal, rows=rows,
                  manages=principal.has_any(STEWARDS), types=list(VariableType),
                  classifications=list(Classification))


def _variables(text: str) -> list[dict]:
    """``name type classification [description]`` a line."""
    found = []
    for line in forms.lines(text):
        name, kind, classification, *rest = [*line.split(None, 3), "", ""][:4]
        found.append({"name": name, "type": kind or "string",
                      "classification": classification, "description": " ".join(rest).strip()})
    return found


@router.post("", summary="Console: register a dataset in the catalogue")
def register(request: Request, principal: Steward, session: SessionDep,
             name: Annotated[str, Form(max_length=63)],
             holder: Annotated[str, Form(max_length=200)],
             variables: Annotated[str, Form(max_length=100_000)],
             description: Annotated[str, Form(max_length=5000)] = "") -> RedirectResponse:
    with changes.run(session, principal, "dataset.create", "dataset",
                     name[:63]):
        body = forms.checked(DatasetCreate, {"name": name.strip(), "holder": holder.strip(),
                                             "description": description.strip(),
                                             "variables": _variables(variables)})
        dataset = create_dataset(session, body, actor=principal.actor())
    return RedirectResponse(f"/console/datasets/{quote(dataset.name)}", 303)


def _page(request: Request, principal: Principal, dataset: Dataset, problems=None,
          message: str | None = None, status: int = 200) -> HTMLResponse:
    return render(request, "dataset.html", principal, dataset=dataset, problems=problems,
                  kinds=PROBLEM_KINDS,
                  message=message, manages=principal.has_any(STEWARDS), status=status)


@router.get("/{name}", response_class=HTMLResponse, summary="Console: a dataset")
def dataset_page(name: str, request: Request, principal: Reader,
                 session: SessionDep) -> HTMLResponse:
    return _page(request, principal, get_dataset(session, name))


@router.post("/{name}/source", summary="Console: upload a dataset's source file")
def upload(name: str, request: Request, principal: Steward, session: SessionDep,
           plane: Plane, file: Annotated[UploadFile, File()],
           format: Annotated[Literal["", "csv", "parquet"], Form()] = ""):
    filename = PurePath(file.filename or "").name
    try:
        with changes.run(session, principal, "dataset.source.register", "dataset", name):
            dataset = get_dataset(session, name)
            with source_named_well():
                source = upload_source(plane.store, name, filename, file.file,
                                       dataset.variables,
                                       format or PurePath(filename).suffix.lstrip(".").lower())
            keep_source(session, principal, name, source, "upload")
    except SourceRejected as exc:  # audited; shown column by column
        return _page(request, principal, get_dataset(session, name), exc.problems,
                     exc.message, 422)
    return RedirectResponse(f"/console/datasets/{quote(name)}", 303)
