"""Make a table again from its specification and an extract table, and compare it with the
file submitted, cell by cell.

:func:`replay` gives one of three answers (:class:`Replay`):

``verified``
    the table made again on the extract has the submitted file's every label and value;
    its evidence (true counts, per-unit contributions) is then the airlock's own;
``mismatch``
    it does not: the cells that differ are listed;
``not replayable``
    it could not be made again (a derived variable, a filter the extract table cannot
    answer, over the time or memory bound...): the reason is given, and the table's evidence
    stays a claim.

Where the extract table comes from is the caller's (:class:`ExtractTables`): the airlock
decrypts it, a workspace reads its ``data/`` folder. Bounds are the caller's too: the time
bound is checked between stages (reading, filtering, encoding, aggregating), so a stage that
ends over it makes the table not replayable even when it finished.
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from egress.csvformat import decode, parse_number, sniff_delimiter
from egress.errors import EgressError, InputError
from egress.replay.evaluate import dictionary_indices, rows_kept
from egress.replay.outcome import MISMATCH, NOT_REPLAYABLE, VERIFIED, ExtractTables, Replay
from egress.replay.spec import ReplaySpec
from egress.sdc.evidence import TableEvidence
from egress.tabulate import Encoded, tabulate
from spe.messages import Message

MAX_CELLS_SHOWN = 50
REL_TOLERANCE = 1e-9


class NotReplayable(EgressError):
    """The table cannot be made again; the message (a :class:`Message`) says why."""


def why(exc: Exception, limit: int = 450) -> Message:
    """The reason an exception gives, as a :class:`Message`: its own, or its text (another
    library's, at most ``limit`` characters) as the parameter of one."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, Message) else Message("{error}", error=str(exc)[:limit])


def read_parquet(source: Any, name: str, columns: list[str]) -> pa.Table:
    """Those columns of a Parquet file, text columns as Parquet's dictionaries (the replay
    encodes them without materialising a string per row); :class:`NotReplayable` if one is
    missing."""
    schema = pq.read_schema(source)
    present_columns(name, schema, columns)
    text = [c for c in columns if pa.types.is_string(schema.field(c).type)
            or pa.types.is_large_string(schema.field(c).type)]
    return pq.read_table(source, columns=columns, read_dictionary=text)


class ParquetFolder:
    """Extract tables as ``<folder>/<name>.parquet`` (a workspace's ``data/``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def read(self, name: str, columns: list[str], deadline: float) -> pa.Table:
        path = self.folder / f"{name}.parquet"
        if "/" in name or not path.is_file():
            raise NotReplayable(Message("no extract table {name!r}", name=name))
        try:
            return read_parquet(path, name, columns)
        except (OSError, pa.ArrowException) as exc:
            raise NotReplayable(Message("extract table {name!r} cannot be read: {error}",
                                        name=name, error=str(exc))) from exc


def present_columns(name: str, schema: pa.Schema, columns: list[str]) -> list[str]:
    """``columns``, when the extract table has each; else :class:`NotReplayable`."""
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise NotReplayable(Message("{columns} not a column of extract table {name!r} (a "
                                    "derived variable?)", columns=", ".join(map(repr, missing)),
                                    name=name))
    return columns


def replay(spec: ReplaySpec, submitted: bytes, source: ExtractTables, seconds: float,
           extract: dict[str, Any] | None = None) -> Replay:
    """Make the table of ``spec`` again from ``source`` within ``seconds`` and compare it with
    the ``submitted`` file's bytes."""
    started = time.monotonic()
    deadline = started + seconds
    out = Replay(NOT_REPLAYABLE, Message("not replayed"), spec, extract=dict(extract or {}))
    try:
        refused = spec.not_replayable
        if refused:
            raise NotReplayable(refused)
        table = source.read(spec.table, spec.variables(), deadline)
        _in_time(deadline, seconds, Message("reading the extract"))
        out.rows_read = table.num_rows
        frame, evidence = make_table(spec, table, deadline, seconds)
        cells, count, shape = compare(frame, submitted, len(spec.rows))
    except NotReplayable as exc:
        out.reason = why(exc)
    except (InputError, pa.ArrowException, ValueError, MemoryError) as exc:
        out.reason = Message("the table cannot be made from the extract: {error}",
                             error=why(exc))
    else:
        if shape or count:
            out.status, out.cells, out.cells_differing = MISMATCH, cells, count
            out.reason = shape or Message("{count} cell(s) of the file differ from the "
                                          "table made again on the extract", count=count)
        else:
            out.status, out.evidence = VERIFIED, evidence
            out.reason = Message("made again on extract table {table!r} ({rows} rows): "
                                 "every cell matches", table=spec.table, rows=out.rows_read)
    out.seconds = time.monotonic() - started
    if out.status == VERIFIED and out.seconds > seconds:  # fail safe: never pass over a bound
        out.status, out.evidence = NOT_REPLAYABLE, None
        out.reason = Message("the replay took longer than its bound ({seconds:g} s)",
                             seconds=seconds)
    return out


def make_table(spec: ReplaySpec, table: pa.Table, deadline: float | None = None,
               seconds: float = math.inf) -> tuple[pd.DataFrame, TableEvidence]:
    """The table ``spec`` describes, made from the Arrow ``table`` (the same arithmetic as
    the analysis library's)."""
    deadline = math.inf if deadline is None else deadline
    where = spec.filter()
    keep = None
    if where is not None:
        keep = rows_kept(where, {n: table.column(n) for n in table.column_names},
                         table.num_rows)
        _in_time(deadline, seconds, Message("filtering"))
    rows = encode_arrow(table, spec.rows, keep)
    cols = encode_arrow(table, spec.columns, keep)
    _in_time(deadline, seconds, Message("encoding the dimensions"))
    vals = None
    if spec.values is not None and spec.statistic != "count":
        column = table.column(spec.values)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                or pa.types.is_decimal(column.type) or pa.types.is_boolean(column.type)):
            raise NotReplayable(Message("values variable {values!r} is not numeric",
                                        values=spec.values))
        vals = pc.cast(column, pa.float64()).to_numpy()
    made = tabulate(rows, cols, spec.rows, spec.columns, vals, spec.statistic, spec.margins,
                    spec.margins_name, spec.values or spec.statistic)
    _in_time(deadline, seconds, Message("aggregating"))
    return made


def encode_arrow(table: pa.Table, dims: list[str], keep: np.ndarray | None = None) -> Encoded:
    """The codes ``pd.factorize(sort=True)`` gives over the rows ``keep`` selects (all by
    default; the others get -1), without leaving Arrow for the rows: each column is
    dictionary-encoded (or read so from Parquet), and only its dictionary, the categories
    the kept rows use, goes through pandas."""
    columns = []
    for dim in dims:
        indices, dictionary = dictionary_indices(table.column(dim))
        if keep is not None:
            indices = np.where(keep, indices, -1)
        used = np.flatnonzero(np.bincount(indices + 1, minlength=len(dictionary) + 1)[1:])
        entry_codes, levels = pd.factorize(dictionary.take(pa.array(used)).to_pandas(),
                                           sort=True)
        code_of = np.full(len(dictionary) + 1, -1, dtype=np.int64)  # last: a missing value
        code_of[used] = entry_codes
        columns.append((code_of[indices], pd.Index(levels, name=dim)))
    return Encoded.combine(columns, table.num_rows)


def compare(made: pd.DataFrame, submitted: bytes, row_dims: int
            ) -> tuple[list[dict[str, Any]], int, Message | str]:
    """The cells where the ``submitted`` file differs from the table ``made``: labels as
    text, numbers within a relative 1e-9 (rounding in a CSV's decimal digits). Returns the
    first :data:`MAX_CELLS_SHOWN` differences, how many there are, and what differs in the
    shape (empty when the shapes agree)."""
    mine = list(csv.reader(io.StringIO(made.to_csv())))
    try:
        text, _, _ = decode(submitted)
    except InputError as exc:
        return [], 0, Message("the file cannot be read: {error}", error=why(exc))
    delimiter = sniff_delimiter(text)
    try:
        theirs = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        return [], 0, Message("the file is not a readable CSV: {error}", error=str(exc))
    decimal = "," if delimiter == ";" else "."
    if len(theirs) != len(mine) or any(len(a) != len(b) for a, b in zip(theirs, mine,
                                                                          strict=False)):
        shape = Message("the file has {lines} lines of {widths} cells, the table made again "
                        "{lines_made} of {widths_made}", lines=len(theirs),
                        widths=_widths(theirs), lines_made=len(mine), widths_made=_widths(mine))
        return [], 0, shape
    header = mine[0]
    cells, count = [], 0
    for i, (a, b) in enumerate(zip(theirs, mine, strict=True)):
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            if _same(x, y, decimal):
                continue
            count += 1
            if len(cells) < MAX_CELLS_SHOWN:
                cells.append({"line": i + 1, "row": [c.strip() for c in b[:row_dims]],
                              "column": header[j] if i else f"header cell {j + 1}",
                              "submitted": x, "replayed": y})
    return cells, count, ""


def _widths(rows: list[list[str]]) -> str:
    widths = sorted({len(r) for r in rows})
    return "/".join(map(str, widths)) or "0"


def _same(submitted: str, replayed: str, decimal: str) -> bool:
    if submitted.strip() == replayed.strip():
        return True
    a, b = parse_number(submitted, decimal), parse_number(replayed, ".")
    return a is not None and b is not None and math.isclose(a, b, rel_tol=REL_TOLERANCE,
                                                            abs_tol=REL_TOLERANCE)


def _in_time(deadline: float, seconds: float, stage: Message) -> None:
    if time.monotonic() > deadline:
        raise NotReplayable(Message("over the time bound ({seconds:g} s) while {stage}",
                                    seconds=seconds, stage=stage))
