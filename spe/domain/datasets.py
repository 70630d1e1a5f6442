"""The dataset catalogue: what a dataset holds, variable by variable, and where its source is.

Each variable carries a classification that drives minimisation and pseudonymisation:
direct identifiers are always pseudonymised in extracts; quasi-identifiers and sensitive
variables are kept only when a permit names them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints, field_validator
from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, select

from spe.audit import Actor, record
from spe.db.types import UTCDateTime, utcnow
from spe.domain.permits import PermitDataset, variables_in_use
from spe.errors import Conflict, InvalidInput, NotFound
from spe.messages import Message

DatasetName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]


class Classification(StrEnum):
    direct_identifier = "direct_identifier"
    quasi_identifier = "quasi_identifier"
    sensitive = "sensitive"
    other = "other"


class VariableType(StrEnum):
    string = "string"
    integer = "integer"
    number = "number"
    date = "date"
    boolean = "boolean"


class Variable(SQLModel):
    name: VariableName
    type: VariableType = VariableType.string
    classification: Classification
    description: str = Field(default="", max_length=2000)


class DatasetBase(SQLModel):
    holder: str = Field(max_length=200, description="The data holder (e.g. CNAM for SNDS).")
    description: str = Field(default="", max_length=5000)


def _unique_names(variables: list[Variable]) -> list[Variable]:
    names = [v.name for v in variables]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(Message("duplicate variable names: {duplicates}",
                                 duplicates=', '.join(duplicates)))
    return variables


class DatasetCreate(DatasetBase):
    name: DatasetName
    variables: list[Variable] = Field(min_length=1)

    _check_unique = field_validator("variables")(_unique_names)


class DatasetUpdate(SQLModel):
    holder: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    variables: list[Variable] | None = Field(default=None, min_length=1)

    @field_validator("variables")
    @classmethod
    def _check_unique(cls, variables: list[Variable] | None) -> list[Variable] | None:
        return None if variables is None else _unique_names(variables)


class Dataset(DatasetBase, table=True):
    __tablename__ = "datasets"

    name: str = Field(primary_key=True, max_length=63)
    variables: list[dict] = Field(sa_column=Column(JSON, nullable=False))
    source_uri: str | None = Field(
        default=None, max_length=1000,
        description="The source object's key under `sources/<dataset>/`, set only through "
        "the sources API, which checks its schema against the variables.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))

    def variable_names(self) -> set[str]:
        return {v["name"] for v in self.variables}

    def direct_identifiers(self) -> list[str]:
        return [v["name"] for v in self.variables
                if v["classification"] == Classification.direct_identifier]


class DatasetPublic(DatasetBase):
    name: str
    variables: list[Variable]
    source_uri: str | None
    created_at: datetime
    updated_at: datetime


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.get(Dataset, name)
    if dataset is None:
        raise NotFound(Message("no dataset {name!r}", name=name), code="dataset.not_found")
    return dataset


def create_dataset(session: Session, data: DatasetCreate, *, actor: Actor) -> Dataset:
    if session.get(Dataset, data.name) is not None:
        raise Conflict(Message("dataset {data_name!r} exists", data_name=data.name),
                       code="dataset.exists")
    dataset = Dataset(**data.model_dump(exclude={"variables"}),
                      variables=[v.model_dump(mode="json") for v in data.variables])
    session.add(dataset)
    record(session, action="dataset.create", actor=actor, target_type="dataset",
           target_id=dataset.name, details={"variables": len(data.variables)})
    return dataset


def update_dataset(session: Session, name: str, data: DatasetUpdate, *, actor: Actor) -> Dataset:
    dataset = get_dataset(session, name)
    changes = data.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput(Message("nothing to change"), code="dataset.empty_update")
    if "variables" in changes:
        kept = {v.name for v in data.variables or []}
        missing = sorted(variables_in_use(session, name) - kept)
        if missing:
            raise Conflict(Message("variables still permitted by a permit: {missing}",
                                   missing=', '.join(missing)),
                           code="dataset.variables_in_use")
        changes["variables"] = [v.model_dump(mode="json") for v in data.variables or []]
    for field, value in changes.items():
        setattr(dataset, field, value)
    dataset.updated_at = utcnow()
    session.add(dataset)
    record(session, action="dataset.update", actor=actor, target_type="dataset",
           target_id=name, details={"fields": sorted(changes)})
    return dataset


def delete_dataset(session: Session, name: str, *, actor: Actor) -> None:
    dataset = get_dataset(session, name)
    if session.exec(select(PermitDataset).where(PermitDataset.dataset_name == name)).first():
        raise Conflict(Message("dataset {name!r} is named by a permit", name=name),
                       code="dataset.in_use")
    session.delete(dataset)
    record(session, action="dataset.delete", actor=actor, target_type="dataset", target_id=name)


def set_source(session: Session, name: str, key: str, *, actor: Actor) -> Dataset:
    """Point the dataset at its source object (once the sources API has checked it)."""
    dataset = get_dataset(session, name)
    dataset.source_uri = key
    dataset.updated_at = utcnow()
    session.add(dataset)
    record(session, action="dataset.source.set", actor=actor, target_type="dataset",
           target_id=name, details={"object": key})
    return dataset
