"""Dataset sources: a data holder's CSV or Parquet file, checked against the catalogue.

A source is kept only if its columns are exactly the dataset's variables with compatible
types. ``upload_source`` therefore never writes the final key first: it streams the upload
(multipart, length unknown) to ``staging/<id>``, checks it there, copies it server-side to
``sources/<dataset>/<file>`` and always deletes the staging object (every version). A refused
or failed upload leaves nothing under ``sources/``; only a crash of the process itself can
leave a staging object, which a bucket lifecycle rule on ``staging/`` expires.

What is checked: Parquet, the schema and row count in the footer (two ranged reads). CSV, the
header and the types inferred from the first block, then every row converted to the
declared types, so a bad value deep in the file is refused too.

Type compatibility (catalogue type <- file type): integer <- any integer; number <- integer,
floating or decimal; date <- date; boolean <- boolean; string <- string. In a CSV everything
is text, so a ``string`` variable accepts any inferred type (``75001`` stays ``"75001"``) and
a column empty in the first block is decided by the full conversion.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from spe.errors import Conflict, InvalidInput
from spe.messages import Message
from spe.storage import layout
from spe.storage.base import ObjectStore
from spe.storage.seekable import open_seekable

Format = Literal["csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet")
_ORIGIN = b"spe.source_format"
_CSV_BLOCK = 1 << 20
_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
                "date": pa.date32(), "boolean": pa.bool_()}


class SourceRejected(InvalidInput):
    """The file is unreadable or does not match the catalogue; ``problems`` says how."""

    def __init__(self, message: str, problems: Sequence[SchemaProblem] = (), *,
                 code: str = "source.schema_mismatch") -> None:
        super().__init__(message, code=code, details=[asdict(p) for p in problems])
        self.problems = list(problems)


@dataclass(frozen=True)
class SchemaProblem:
    """One difference from the catalogue; ``kind`` is a word of :data:`PROBLEM_KINDS`, the
    ``message`` a :class:`Message` (English in the API's details, the reader's language in
    the console)."""

    kind: Literal["missing", "unexpected", "duplicate", "type", "value"]
    column: str | None
    message: Message


#: The kinds of schema problem, as the console shows them (each a translated word).
PROBLEM_KINDS = {"missing": Message("missing"), "unexpected": Message("unexpected"),
                 "duplicate": Message("duplicate"), "type": Message("type"),
                 "value": Message("value")}


@dataclass(frozen=True)
class SourceObject:
    key: str
    size: int
    etag: str
    version_id: str | None
    format: Format
    rows: int
    schema: pa.Schema


def read_schema(source: BinaryIO | str | Path, format: Format) -> pa.Schema:
    """The file's Arrow schema: Parquet from its footer (the stream must be seekable), CSV
    from its header and the types pyarrow infers on the first block."""
    fmt = _format(format)
    try:
        if fmt == "parquet":
            schema = pq.ParquetFile(source).schema_arrow
        else:
            reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK))
            schema = reader.schema
            reader.close()
    except (pa.ArrowException, OSError) as exc:
        raise SourceRejected(Message("cannot read the file as {fmt}: {exc}", fmt=fmt, exc=exc),
                             code="source.unreadable") from exc
    return schema.with_metadata({**(schema.metadata or {}), _ORIGIN: fmt.encode()})


def check_schema(schema: pa.Schema, variables: Sequence[Mapping]) -> list[SchemaProblem]:
    """Every difference between the file's columns and the catalogue's variables."""
    declared = _declared(variables)
    from_csv = (schema.metadata or {}).get(_ORIGIN) == b"csv"
    problems = []
    names = schema.names
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(SchemaProblem("duplicate", name, Message(
            "column {name!r} appears {times} times in the file", name=name,
            times=names.count(name))))
    for name, kind in declared.items():
        if name not in names:
            problems.append(SchemaProblem("missing", name, Message(
                "variable {name!r} ({kind}) is in the catalogue but not in the file",
                name=name, kind=kind)))
    for field in schema:
        kind = declared.get(field.name)
        if kind is None:
            problems.append(SchemaProblem("unexpected", field.name, Message(
                "column {name!r} is in the file but not in the catalogue", name=field.name)))
        elif not _compatible(kind, field.type, from_csv):
            problems.append(SchemaProblem("type", field.name, Message(
                "column {name!r} is {actual} in the file but {kind} in the catalogue",
                name=field.name, actual=str(field.type), kind=kind)))
    return problems


def upload_source(store: ObjectStore, dataset: str, filename: str, stream: BinaryIO,
                  variables: Sequence[Mapping], format: Format) -> SourceObject:
    """Stream a source in, keep it under ``sources/<dataset>/<filename>`` only if it matches
    the catalogue (:class:`SourceRejected` otherwise); an existing source is never replaced
    (:class:`~spe.errors.Conflict`: a new delivery is a new file name)."""
    fmt = _format(format)
    _declared(variables)
    key = layout.source_key(dataset, filename)
    if store.exists(key):
        raise Conflict(Message("source {key!r} already exists", key=key), code="source.exists")
    staging = layout.staging_key(uuid.uuid4().hex)
    try:
        store.put(staging, stream)
        schema, rows = _check_stored(store, staging, variables, fmt)
        kept = store.copy(staging, key)
    finally:
        store.delete(staging)
    return SourceObject(kept.key, kept.size, kept.etag, kept.version_id, fmt, rows, schema)


def register_existing(store: ObjectStore, key: str, variables: Sequence[Mapping],
                      format: Format | None = None) -> SourceObject:
    """Check an object already under ``sources/`` (format from its extension by default)."""
    _, filename = layout.parse_source_key(key)
    fmt = _format(format or Path(filename).suffix.lstrip(".").lower())
    info = store.stat(key)
    schema, rows = _check_stored(store, key, variables, fmt)
    return SourceObject(info.key, info.size, info.etag, info.version_id, fmt, rows, schema)


def _check_stored(store: ObjectStore, key: str, variables: Sequence[Mapping],
                  fmt: Format) -> tuple[pa.Schema, int]:
    if fmt == "parquet":
        with open_seekable(store, key) as stream:
            schema = read_schema(stream, fmt)
            _refuse(check_schema(schema, variables))
            return schema, pq.ParquetFile(stream).metadata.num_rows
    with store.open(key) as stream:
        schema = read_schema(stream, fmt)
    _refuse(check_schema(schema, variables))
    with store.open(key) as stream:
        return schema, _count_csv_rows(stream, _declared(variables))


def _count_csv_rows(stream: BinaryIO, declared: dict[str, str]) -> int:
    types = {name: _ARROW_TYPES[kind] for name, kind in declared.items()}
    rows = 0
    try:
        reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
                                convert_options=pacsv.ConvertOptions(column_types=types))
        for batch in reader:
            rows += batch.num_rows
    except pa.ArrowInvalid as exc:
        _refuse([SchemaProblem("value", None, Message(
            "a value does not fit the catalogue: {error}", error=str(exc)))])
    return rows


def _refuse(problems: list[SchemaProblem]) -> None:
    if problems:
        raise SourceRejected(Message("the file does not match the catalogue: {problems}",
                                     problems=Message.listing([p.message for p in problems],
                                                              "; ")), problems)


def _compatible(kind: str, actual: pa.DataType, from_csv: bool) -> bool:
    if from_csv and (kind == "string" or pa.types.is_null(actual)):
        return True
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    return {
        "string": pa.types.is_string(actual) or pa.types.is_large_string(actual),
        "integer": pa.types.is_integer(actual),
        "number": (pa.types.is_integer(actual) or pa.types.is_floating(actual)
                   or pa.types.is_decimal(actual)),
        "date": pa.types.is_date(actual),
        "boolean": pa.types.is_boolean(actual),
    }[kind]


def _declared(variables: Sequence[Mapping]) -> dict[str, str]:
    declared = {}
    for variable in variables:
        kind = variable.get("type", "string")
        if kind not in _ARROW_TYPES:
            raise InvalidInput(Message("variable {variable!r} has unknown type {kind!r}; "
                                       "expected one of {types}",
                                       variable=variable.get('name'), kind=kind,
                                       types=', '.join(_ARROW_TYPES)),
                               code="source.variable_type")
        declared[variable["name"]] = kind
    return declared


def _format(format: str) -> Format:
    if format not in FORMATS:
        raise InvalidInput(Message("unsupported source format {format!r}: use csv or parquet",
                                   format=format),
                           code="source.format")
    return format
