"""Count tables as the differencing audit reads them, and the project's ledger of them.

A :class:`CountTable` is a table's interior cells (one count per tuple of category labels)
with what is known of whom it counts: ``population`` (tables of different populations are
never combined) and ``filters`` (conditions that hold for every cell, such as ``age: <90``,
as the analysis library records them). The ledger keeps the released ones per project,
each with its ``origin`` (which release and file it came from, as the workflow names them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from egress.errors import InputError
from egress.sdc.evidence import TableEvidence


@dataclass
class CountTable:
    """A count table as the ledger keeps it: dimensions and a count per category tuple."""

    name: str
    dims: list[str]
    cells: dict[tuple[str, ...], int]
    population: str = ""
    filters: dict[str, str] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_evidence(cls, name: str, ev: TableEvidence, population: str = "",
                      filters: dict[str, str] | None = None) -> CountTable:
        """The interior cells (margins left out) of a count table's evidence."""
        counts = ev.interior(ev.count)
        rows = ev.row_labels[:-1] if ev.margins else ev.row_labels
        cols = ev.col_labels[:-1] if ev.margins else ev.col_labels
        row_keys = [tuple(map(str, r)) for r in rows]
        col_keys = [tuple(map(str, c)) for c in cols]
        values = counts.tolist()
        cells = {rk + ck: int(n) for rk, line in zip(row_keys, values, strict=True)
                 for ck, n in zip(col_keys, line, strict=True)}
        return cls(name, [*ev.row_dims, *ev.col_dims], cells, population, dict(filters or {}))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dims": self.dims, "population": self.population,
                "filters": self.filters, **({"origin": self.origin} if self.origin else {}),
                "categories": {d: sorted({k[i] for k in self.cells})
                               for i, d in enumerate(self.dims)},
                "cells": [[*k, n] for k, n in self.cells.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CountTable:
        try:
            width = len(data["dims"])
            cells = {tuple(str(v) for v in row[:width]): int(row[width])
                     for row in data["cells"]}
            filters, origin = data.get("filters") or {}, data.get("origin") or {}
            if not isinstance(filters, dict) or not isinstance(origin, dict):
                raise TypeError("filters and origin must be objects")
            return cls(str(data["name"]), [str(d) for d in data["dims"]], cells,
                       str(data.get("population") or ""),
                       {str(k): str(v) for k, v in filters.items()},
                       {str(k): str(v) for k, v in origin.items()})
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"malformed ledger table: {exc}") from exc


@dataclass
class Ledger:
    """The count tables released so far for one project; JSON-serialisable."""

    tables: list[CountTable] = field(default_factory=list)

    def add(self, table: CountTable) -> None:
        self.tables.append(table)

    def to_json(self) -> dict[str, Any]:
        return {"version": 2, "tables": [t.to_json() for t in self.tables]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
            raise InputError("a ledger is an object with a list of tables")
        return cls([CountTable.from_json(t) for t in data["tables"]])
