"""Differencing: released tables and new ones whose difference isolates a few people.

The classic attack: counts for "age ≥ 18" by sex and region are released, then the same for
"age ≥ 19". Every cell of the second is at most the first, and their difference is the
18-year-olds, cell by cell: a handful of people. So a new count table is compared with each
released table (the project's :class:`Ledger`) and with the other tables of the same
request: both are summed down to the dimensions they share, matched on the categories they
share, and when one population nests in the other (every difference of the same sign, not
all zero) each implied difference cell is checked against the threshold.

Tables over category sets that are regroupings of each other (age bands 18-29 vs 19-29) are
only caught through cells they share; a checker still sees the dimensions in the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from egress.errors import InputError
from egress.sdc.evidence import TableEvidence


@dataclass
class CountTable:
    """A count table as the ledger keeps it: dimensions and a count per category tuple."""

    name: str
    dims: list[str]
    cells: dict[tuple[str, ...], int]
    _sums: dict[tuple[str, ...], pd.Series] = field(default_factory=dict, repr=False,
                                                    compare=False)

    @classmethod
    def from_evidence(cls, name: str, ev: TableEvidence) -> CountTable:
        """The interior cells (margins left out) of a count table's evidence."""
        counts = ev.interior(ev.count)
        rows = ev.row_labels[:-1] if ev.margins else ev.row_labels
        cols = ev.col_labels[:-1] if ev.margins else ev.col_labels
        cells = {tuple(str(v) for v in (*r, *c)): int(counts[i, j])
                 for i, r in enumerate(rows) for j, c in enumerate(cols)}
        return cls(name, [*ev.row_dims, *ev.col_dims], cells)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dims": self.dims,
                "categories": {d: sorted({k[i] for k in self.cells})
                               for i, d in enumerate(self.dims)},
                "cells": [[*k, n] for k, n in self.cells.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CountTable:
        try:
            width = len(data["dims"])
            cells = {tuple(str(v) for v in row[:width]): int(row[width])
                     for row in data["cells"]}
            return cls(str(data["name"]), [str(d) for d in data["dims"]], cells)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"malformed ledger table: {exc}") from exc

    def summed(self, dims: tuple[str, ...]) -> pd.Series:
        """Counts summed down to ``dims`` (cached: a table meets many others)."""
        if dims not in self._sums:
            keys = pd.MultiIndex.from_tuples(list(self.cells), names=self.dims)
            counts = pd.Series(list(self.cells.values()), index=keys, dtype=np.int64)
            self._sums[dims] = counts.groupby(level=list(dims)).sum()
        return self._sums[dims]


@dataclass
class Ledger:
    """The count tables released so far for one project; JSON-serialisable."""

    tables: list[CountTable] = field(default_factory=list)

    def add(self, table: CountTable) -> None:
        self.tables.append(table)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "tables": [t.to_json() for t in self.tables]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
            raise InputError("a ledger is an object with a list of tables")
        return cls([CountTable.from_json(t) for t in data["tables"]])


@dataclass(frozen=True)
class ImpliedCell:
    """A difference cell between ``table`` and ``other`` that falls under the threshold."""

    other: str
    labels: tuple[str, ...]
    difference: int

    def flag(self) -> dict[str, Any]:
        return {"row": list(self.labels), "column": [], "rule": "differencing",
                "reason": f"differs by {self.difference} from {self.other}: the difference "
                          f"isolates {self.difference} people", "severity": "fail"}


def check_differencing(new: CountTable, ledger: Ledger | None, threshold: int,
                       others: list[CountTable] = ()) -> list[ImpliedCell]:
    """Implied difference cells of ``new`` against the ledger and ``others`` under threshold."""
    found: list[ImpliedCell] = []
    for old in [*(ledger.tables if ledger else []), *others]:
        found += implied_cells(new, old, threshold)
    return found


def implied_cells(new: CountTable, old: CountTable, threshold: int) -> list[ImpliedCell]:
    """The cells where nested ``new`` and ``old`` differ by 1..threshold-1 people."""
    shared = tuple(d for d in new.dims if d in old.dims)
    if not shared or not new.cells or not old.cells:
        return []
    a, b = new.summed(shared).align(old.summed(shared), join="inner")
    if a.empty:
        return []
    diff = b.to_numpy() - a.to_numpy()
    if not diff.any() or not ((diff >= 0).all() or (diff <= 0).all()):
        return []
    small = np.nonzero((diff != 0) & (np.abs(diff) < threshold))[0]
    return [ImpliedCell(old.name, _labels(shared, a.index[i]), int(abs(diff[i])))
            for i in small]


def _labels(dims: list[str], key: Any) -> tuple[str, ...]:
    values = key if isinstance(key, tuple) else (key,)
    return tuple(f"{d}={v}" for d, v in zip(dims, values, strict=True))
