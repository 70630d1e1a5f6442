"""Rows to a table and its evidence, once the dimensions are encoded as cell codes.

The analysis library (:mod:`egress.tables`, from a pandas data frame) and the replay engine
(:mod:`egress.replay.engine`, from an Arrow table) encode their dimensions their own way
and share everything after: so a table replayed on the extract is made by the same
arithmetic, in the same order, as the table the researcher made.

Every combination of the dimensions' categories is a cell, as with ``pd.crosstab(...,
dropna=False)``: an unobserved combination is an empty cell, which SDC must see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from egress.errors import InputError
from egress.sdc.evidence import STATISTICS, TableEvidence, aggregate

TOP_CONTRIBUTIONS = 2
"""Largest contributions kept per cell: enough for (n=2, k) dominance and the p% rule."""


@dataclass
class Encoded:
    """Per row, the mixed-radix code of its categories over some dimensions (-1 when one is
    missing), and each dimension's categories in code order."""

    codes: np.ndarray
    levels: list[pd.Index]

    @property
    def size(self) -> int:
        return int(np.prod([len(lv) for lv in self.levels])) if self.levels else 1

    @classmethod
    def combine(cls, columns: list[tuple[np.ndarray, pd.Index]], rows: int) -> Encoded:
        """From each dimension's codes (-1: missing) and categories."""
        if not columns:
            return cls(np.zeros(rows, dtype=np.int64), [])
        return cls(mixed_radix([c for c, _ in columns], [len(lv) for _, lv in columns]),
                   [lv for _, lv in columns])


def mixed_radix(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One code per row from several (-1 wherever one is -1), computed in place: at tens of
    millions of rows the temporaries, not the arithmetic, are the cost."""
    if len(codes) == 1:
        return np.asarray(codes[0], dtype=np.int64)
    out = np.array(codes[0], dtype=np.int64)
    for c, size in zip(codes[1:], sizes[1:], strict=True):
        missing = (out < 0) | (c < 0)
        out *= size
        out += c
        out[missing] = -1
    return out


def encode_frame(df: pd.DataFrame, dims: list[str]) -> Encoded:
    """Categories sorted as ``pd.factorize(sort=True)`` gives them (a categorical column's
    in its own order), rows with a missing value left out."""
    columns = []
    for dim in dims:
        col = df[dim]
        if isinstance(col.dtype, pd.CategoricalDtype):
            c, lv = col.cat.codes.to_numpy(dtype=np.int64), col.cat.categories
        else:
            c, lv = pd.factorize(col, sort=True)
        columns.append((np.asarray(c, dtype=np.int64), pd.Index(lv, name=dim)))
    return Encoded.combine(columns, len(df))


def tabulate(rows: Encoded, cols: Encoded, row_dims: list[str], col_dims: list[str],
             vals: np.ndarray | None, aggfunc: str, margins: bool, margins_name: str,
             single: str) -> tuple[pd.DataFrame, TableEvidence]:
    """The table (as pandas lays it out) and the evidence of its cells; ``vals`` holds the
    values variable as floats (NaN: missing) unless the statistic is a count; ``single``
    names the one column of a table without column dimensions."""
    if aggfunc not in STATISTICS:
        raise InputError(f"unknown aggfunc {aggfunc!r}; one of {', '.join(STATISTICS)}")
    nrows, ncols = rows.size, cols.size
    codes = mixed_radix([rows.codes, cols.codes], [nrows, ncols])
    cells = aggregate(codes, nrows * ncols, vals, aggfunc, TOP_CONTRIBUTIONS)
    grid = {name: getattr(cells, name) for name in ("value", "count", "total", "top",
                                                    "negatives")}
    grid = {k: (None if v is None else v.reshape(nrows, ncols, *v.shape[1:]))
            for k, v in grid.items()}
    row_labels, col_labels = _labels(rows.levels), _labels(cols.levels)
    if margins:
        row_m = aggregate(np.where(codes >= 0, rows.codes, -1), nrows, vals, aggfunc,
                          TOP_CONTRIBUTIONS)
        col_m = aggregate(np.where(codes >= 0, cols.codes, -1), ncols, vals, aggfunc,
                          TOP_CONTRIBUTIONS)
        all_m = aggregate(np.where(codes >= 0, 0, -1), 1, vals, aggfunc, TOP_CONTRIBUTIONS)
        for k in grid:
            if grid[k] is not None:
                grid[k] = _bordered(grid[k], getattr(row_m, k), getattr(col_m, k),
                                    getattr(all_m, k))
        row_labels.append(_margin_label(margins_name, len(row_dims)))
        col_labels.append(_margin_label(margins_name, max(len(col_dims), 1)))
    evidence = TableEvidence(
        statistic=aggfunc, row_dims=row_dims, col_dims=col_dims or [single],
        row_labels=row_labels, col_labels=col_labels, count=grid["count"],
        total=grid["total"], top=grid["top"], negatives=grid["negatives"],
        margins=margins, margins_name=margins_name)
    return _frame(grid["value"], row_dims, col_dims, row_labels, col_labels, single), evidence


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
