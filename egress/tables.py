"""Tables for researchers: pandas-like crosstabs that carry their own SDC evidence.

    from egress import tables
    res = tables.crosstab(df, "region", "sex", values="cost", aggfunc="mean", margins=True)
    res.table                   # the DataFrame pandas would give (dropna=False layout)
    res.check("snds")           # the check record spe's output checkers will see
    res.to_csv("outputs/cost.csv")   # table + checker-only sidecar outputs/cost.sdc.json

Every combination of the dimensions' categories is a cell, as with ``pd.crosstab(...,
dropna=False)``: an unobserved combination is an empty cell, which SDC must see. Rows with a
missing dimension value are left out, as pandas does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from egress.errors import InputError
from egress.sdc.assess import Assessment, assess_table
from egress.sdc.evidence import STATISTICS, TableEvidence, aggregate
from egress.sdc.params import SdcRules, load_rules

PREVIEW_NOTE = ("preview from the table's evidence: the airlock checks the written file's own "
                "cells, and evidence can only add checks there, so a table whose cells do not "
                "say what they are (category headers, means) goes to review")
TOP_CONTRIBUTIONS = 2
"""Largest contributions kept per cell: enough for (n=2, k) dominance and the p% rule."""


@dataclass
class TableResult:
    """A table and the evidence behind each of its cells."""

    table: pd.DataFrame
    evidence: TableEvidence

    def assess(self, pack: str | dict | SdcRules) -> Assessment:
        return assess_table(self.evidence, load_rules(pack))

    def check(self, pack: str | dict | SdcRules, name: str = "table.csv") -> dict[str, Any]:
        """The check record of this table under ``pack`` (as if written to ``name``)."""
        from egress.record import make_record

        data = self.table.to_csv().encode()
        rules = load_rules(pack)
        assessment = self.assess(rules)
        assessment.notes.append(PREVIEW_NOTE)
        return make_record(name, hashlib.sha256(data).hexdigest(), "analysis-table",
                           rules, assessment, table=_describe(self.evidence))

    def to_csv(self, path: str | Path) -> Path:
        """Write the table to ``path`` and its evidence to the sidecar ``<stem>.sdc.json``.

        The sidecar holds, per cell, the number of contributors and the largest
        contributions: checker-only evidence that stays in the workspace and quarantine and
        is never released. Returns the sidecar's path.
        """
        from egress.sidecar import write_sidecar

        path = Path(path)
        data = self.table.to_csv().encode()
        path.write_bytes(data)
        return write_sidecar(path, hashlib.sha256(data).hexdigest(), self.evidence)


def crosstab(df: pd.DataFrame, index: str | Sequence[str], columns: str | Sequence[str],
             values: str | None = None, aggfunc: str = "count", margins: bool = False,
             margins_name: str = "All") -> TableResult:
    """Cross-tabulate columns of ``df``: counts, or ``aggfunc`` of ``values`` per cell."""
    row_dims, col_dims = _names(index), _names(columns)
    if not col_dims:
        raise InputError("crosstab needs at least one column dimension")
    return _tabulate(df, row_dims, col_dims, values, aggfunc, margins, margins_name)


def pivot_table(df: pd.DataFrame, values: str, index: str | Sequence[str],
                columns: str | Sequence[str] | None = None, aggfunc: str = "mean",
                margins: bool = False, margins_name: str = "All") -> TableResult:
    """Like ``pd.pivot_table`` for one ``values`` column; without ``columns`` the table has
    one column named after ``values``."""
    return _tabulate(df, _names(index), _names(columns), values, aggfunc, margins,
                     margins_name)


def _names(spec: str | Sequence[str] | None) -> list[str]:
    if spec is None:
        return []
    return [spec] if isinstance(spec, str) else list(spec)


def _tabulate(df: pd.DataFrame, row_dims: list[str], col_dims: list[str], values: str | None,
              aggfunc: str, margins: bool, margins_name: str) -> TableResult:
    if aggfunc not in STATISTICS:
        raise InputError(f"unknown aggfunc {aggfunc!r}; one of {', '.join(STATISTICS)}")
    if not row_dims:
        raise InputError("a table needs at least one row dimension")
    missing = [c for c in [*row_dims, *col_dims, *([values] if values else [])]
               if c not in df.columns]
    if missing:
        raise InputError(f"no such column(s): {', '.join(missing)}")
    if aggfunc != "count" and values is None:
        raise InputError(f"aggfunc {aggfunc!r} needs a values column")
    if values is not None and not pd.api.types.is_numeric_dtype(df[values]):
        raise InputError(f"values column {values!r} is not numeric")
    vals = None
    if values is not None and aggfunc != "count":
        vals = df[values].to_numpy(dtype=float, na_value=np.nan)
    row_codes, row_levels = _encode(df, row_dims)
    col_codes, col_levels = _encode(df, col_dims)
    nrows, ncols = _size(row_levels), _size(col_levels)
    codes = np.where((row_codes >= 0) & (col_codes >= 0), row_codes * ncols + col_codes, -1)
    cells = aggregate(codes, nrows * ncols, vals, aggfunc, TOP_CONTRIBUTIONS)
    grid = {name: getattr(cells, name) for name in ("value", "count", "total", "top",
                                                    "negatives")}
    grid = {k: (None if v is None else v.reshape(nrows, ncols, *v.shape[1:]))
            for k, v in grid.items()}
    row_labels, col_labels = _labels(row_levels), _labels(col_levels)
    if margins:
        row_m = aggregate(np.where(codes >= 0, row_codes, -1), nrows, vals, aggfunc,
                          TOP_CONTRIBUTIONS)
        col_m = aggregate(np.where(codes >= 0, col_codes, -1), ncols, vals, aggfunc,
                          TOP_CONTRIBUTIONS)
        all_m = aggregate(np.where(codes >= 0, 0, -1), 1, vals, aggfunc, TOP_CONTRIBUTIONS)
        for k in grid:
            if grid[k] is not None:
                grid[k] = _bordered(grid[k], getattr(row_m, k), getattr(col_m, k),
                                    getattr(all_m, k))
        row_labels.append(_margin_label(margins_name, len(row_dims)))
        col_labels.append(_margin_label(margins_name, max(len(col_dims), 1)))
    evidence = TableEvidence(
        statistic=aggfunc, row_dims=row_dims, col_dims=col_dims or [values or aggfunc],
        row_labels=row_labels, col_labels=col_labels, count=grid["count"],
        total=grid["total"], top=grid["top"], negatives=grid["negatives"],
        margins=margins, margins_name=margins_name)
    return TableResult(table=_frame(grid["value"], row_dims, col_dims, row_labels, col_labels,
                                    values or aggfunc), evidence=evidence)


def _encode(df: pd.DataFrame, dims: list[str]) -> tuple[np.ndarray, list[pd.Index]]:
    """Mixed-radix cell code per row over ``dims`` (-1 if any is missing), and the levels."""
    codes = np.zeros(len(df), dtype=np.int64)
    levels: list[pd.Index] = []
    for dim in dims:
        col = df[dim]
        if isinstance(col.dtype, pd.CategoricalDtype):
            c, lv = col.cat.codes.to_numpy(dtype=np.int64), col.cat.categories
        else:
            c, lv = pd.factorize(col, sort=True)
        codes = np.where((codes >= 0) & (c >= 0), codes * len(lv) + c, -1)
        levels.append(pd.Index(lv, name=dim))
    return codes, levels


def _size(levels: list[pd.Index]) -> int:
    return int(np.prod([len(lv) for lv in levels])) if levels else 1


def _labels(levels: list[pd.Index]) -> list[tuple]:
    if not levels:
        return [()]
    return list(pd.MultiIndex.from_product(levels).to_flat_index()) if len(levels) > 1 \
        else [(v,) for v in levels[0]]


def _margin_label(name: str, depth: int) -> tuple:
    return (name, *([""] * (depth - 1)))


def _bordered(inner: np.ndarray, rows: np.ndarray, cols: np.ndarray, grand: np.ndarray
              ) -> np.ndarray:
    """``inner`` (R, C, ...) with the row margins as last column and column margins as last row."""
    right = np.concatenate([rows, grand])[:, None]
    body = np.concatenate([inner, cols[None]], axis=0)
    return np.concatenate([body, right], axis=1)


def _frame(value: np.ndarray, row_dims: list[str], col_dims: list[str], row_labels: list[tuple],
           col_labels: list[tuple], single: str) -> pd.DataFrame:
    index = _index(row_labels, row_dims)
    columns = _index(col_labels, col_dims) if col_dims else pd.Index([single])
    return pd.DataFrame(value, index=index, columns=columns)


def _index(labels: list[tuple], names: list[str]) -> pd.Index:
    if len(names) == 1:
        return pd.Index([t[0] for t in labels], name=names[0])
    return pd.MultiIndex.from_tuples(labels, names=names)


def _describe(ev: TableEvidence) -> dict[str, Any]:
    return {"statistic": ev.statistic, "rows": ev.row_dims, "columns": ev.col_dims,
            "shape": [len(ev.row_labels), len(ev.col_labels)], "margins": ev.margins}
