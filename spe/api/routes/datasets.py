"""The dataset catalogue (data stewards manage; permit managers and auditors read)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlmodel import select

from spe.api import changes
from spe.api.deps import SessionDep, allow
from spe.api.pagination import Page, PageParams, page_params, paginate
from spe.domain.datasets import (
    Dataset,
    DatasetCreate,
    DatasetPublic,
    DatasetUpdate,
    create_dataset,
    delete_dataset,
    get_dataset,
    update_dataset,
)
from spe.domain.principal import Principal
from spe.domain.roles import Role

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
Steward = Annotated[Principal, allow(Role.admin, Role.data_steward)]
Reader = Annotated[Principal, allow(Role.admin, Role.data_steward, Role.permit_manager,
                                    Role.auditor)]


def _public(dataset: Dataset) -> DatasetPublic:
    return DatasetPublic.model_validate(dataset, from_attributes=True)


@router.get("", summary="List datasets")
def list_datasets(_: Reader, session: SessionDep,
                  page: Annotated[PageParams, Depends(page_params)]) -> Page[DatasetPublic]:
    rows, cursor = paginate(session, select(Dataset).order_by(Dataset.name), page)
    return Page(items=[_public(d) for d in rows], next=cursor)


@router.post("", status_code=201, summary="Register a dataset")
def create(body: DatasetCreate, principal: Steward, session: SessionDep) -> DatasetPublic:
    with changes.run(session, principal, "dataset.create", "dataset", body.name):
        dataset = create_dataset(session, body, actor=principal.actor())
    return _public(dataset)


@router.get("/{name}", summary="Read a dataset")
def read(name: str, _: Reader, session: SessionDep) -> DatasetPublic:
    return _public(get_dataset(session, name))


@router.patch("/{name}", summary="Change a dataset's description, source or variables")
def update(name: str, body: DatasetUpdate, principal: Steward,
           session: SessionDep) -> DatasetPublic:
    with changes.run(session, principal, "dataset.update", "dataset", name):
        dataset = update_dataset(session, name, body, actor=principal.actor())
    return _public(dataset)


@router.delete("/{name}", status_code=204, summary="Remove a dataset no permit names")
def delete(name: str, principal: Steward, session: SessionDep) -> None:
    with changes.run(session, principal, "dataset.delete", "dataset", name):
        delete_dataset(session, name, actor=principal.actor())
