"""Tables for researchers: pandas-like crosstabs that carry their own SDC evidence.

    from egress import tables
    people = tables.read_extract("snds-beneficiaries")      # data/snds-beneficiaries.parquet
    res = tables.crosstab(people, "region", "sex", values="cost", aggfunc="mean",
                          margins=True, where="age >= 18 and age < 65")
    res.table                   # the DataFrame pandas would give (dropna=False layout)
    res.check("snds")           # the check record spe's output checkers will see
    res.to_csv("outputs/cost.csv")   # table + checker-only sidecar outputs/cost.sdc.json

Every combination of the dimensions' categories is a cell, as with ``pd.crosstab(...,
dropna=False)``: an unobserved combination is an empty cell, which SDC must see. Rows with a
missing dimension value are left out, as pandas does.

Beside the evidence, the sidecar records how the table was made (:mod:`egress.replay.spec`):
the extract table, the variables, the statistic and the ``where`` filter, so that the
airlock can make the table again on the extract and trust its evidence. A table over a
column the extract table does not have (a derived variable), or over rows chosen outside
``where``, is recorded as such and cannot be replayed: its evidence is then a claim that
can only add checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egress.errors import InputError
from egress.replay.engine import VERIFIED, ParquetFolder, replay
from egress.replay.evaluate import rows_kept
from egress.replay.spec import ReplaySpec, parse_filter
from egress.sdc.assess import Assessment, assess_table
from egress.sdc.evidence import STATISTICS, TableEvidence
from egress.sdc.params import SdcRules, load_rules
from egress.tabulate import encode_frame, tabulate
from spe.messages import Message

DATA_FOLDER = "data"
"""Where a workspace's extract tables are (``data/<name>.parquet``)."""
ORIGIN = "spe.extract"
"""The data frame attribute :func:`read_extract` sets: which extract table, its columns."""
SELF_CHECK_SECONDS = 120.0
PREVIEW_NOTE = Message("preview from the table's evidence: the airlock checks the written "
                       "file's own cells, and evidence can only add checks there, so a table "
                       "whose cells do not say what they are (category headers, means) goes "
                       "to review")
TOP_CONTRIBUTIONS = 2
"""Largest contributions kept per cell: enough for (n=2, k) dominance and the p% rule."""


@dataclass
class TableResult:
    """A table and the evidence behind each of its cells."""

    table: pd.DataFrame
    evidence: TableEvidence
    spec: ReplaySpec | None = None
    origin_folder: str | None = None

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
        is never released; and how the table was made. Before it is written, the table is
        made again from the workspace's copy of the extract table: if that gives another
        table (a column changed in place, say), the specification says it cannot be replayed
        rather than let the airlock find a mismatch. Returns the sidecar's path.
        """
        from egress.sidecar import write_sidecar

        path = Path(path)
        data = self.table.to_csv().encode()
        path.write_bytes(data)
        spec = self.spec
        if spec is not None and spec.not_replayable is None and self.origin_folder:
            mine = replay(spec, data, ParquetFolder(self.origin_folder), SELF_CHECK_SECONDS)
            if mine.status != VERIFIED:
                spec.unrecorded = ("made again from the workspace's extract table, the table "
                                   f"is not the same ({mine.reason}): were the data frame's "
                                   "columns or rows changed outside the library?")
        return write_sidecar(path, hashlib.sha256(data).hexdigest(), self.evidence, spec)


def read_extract(name: str, folder: str | Path = DATA_FOLDER,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Extract table ``name`` as a data frame that remembers where it came from, so that
    tables made from it can be replayed by the airlock."""
    path = Path(folder) / f"{name}.parquet"
    try:
        table = pq.read_table(path, columns=list(columns) if columns else None)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read extract table {name!r} ({path}): {exc}") from exc
    df = table.to_pandas()
    df.attrs[ORIGIN] = {"table": name, "folder": str(folder), "columns": list(df.columns),
                        "rows": len(df)}
    return df


def crosstab(df: pd.DataFrame, index: str | Sequence[str], columns: str | Sequence[str],
             values: str | None = None, aggfunc: str = "count", margins: bool = False,
             margins_name: str = "All", where: str | None = None) -> TableResult:
    """Cross-tabulate columns of ``df``: counts, or ``aggfunc`` of ``values`` per cell, over
    the rows that satisfy ``where`` (a filter in the grammar of :mod:`egress.replay.spec`)."""
    row_dims, col_dims = _names(index), _names(columns)
    if not col_dims:
        raise InputError("crosstab needs at least one column dimension")
    return _tabulate(df, row_dims, col_dims, values, aggfunc, margins, margins_name, where)


def pivot_table(df: pd.DataFrame, values: str, index: str | Sequence[str],
                columns: str | Sequence[str] | None = None, aggfunc: str = "mean",
                margins: bool = False, margins_name: str = "All",
                where: str | None = None) -> TableResult:
    """Like ``pd.pivot_table`` for one ``values`` column; without ``columns`` the table has
    one column named after ``values``."""
    return _tabulate(df, _names(index), _names(columns), values, aggfunc, margins,
                     margins_name, where)


def _names(spec: str | Sequence[str] | None) -> list[str]:
    if spec is None:
        return []
    return [spec] if isinstance(spec, str) else list(spec)


def _tabulate(df: pd.DataFrame, row_dims: list[str], col_dims: list[str], values: str | None,
              aggfunc: str, margins: bool, margins_name: str, where: str | None) -> TableResult:
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
    spec = _spec(df, row_dims, col_dims, values if aggfunc != "count" else None, aggfunc,
                 margins, margins_name, where)
    if where is not None:
        node = parse_filter(where)
        df = df[rows_kept(node, {c: pa.array(df[c], from_pandas=True)
                                 for c in spec.variables() if c in df.columns}, len(df))]
    vals = None
    if values is not None and aggfunc != "count":
        vals = df[values].to_numpy(dtype=float, na_value=np.nan)
    table, evidence = tabulate(encode_frame(df, row_dims), encode_frame(df, col_dims),
                               row_dims, col_dims, vals, aggfunc, margins, margins_name,
                               values or aggfunc)
    origin = df.attrs.get(ORIGIN) or {}
    return TableResult(table=table, evidence=evidence, spec=spec,
                       origin_folder=origin.get("folder"))


def _spec(df: pd.DataFrame, row_dims: list[str], col_dims: list[str], values: str | None,
          aggfunc: str, margins: bool, margins_name: str, where: str | None) -> ReplaySpec:
    """How the table is made, as far as the library can tell from ``df``'s origin."""
    origin = df.attrs.get(ORIGIN)
    if not isinstance(origin, dict):
        origin = {}
    spec = ReplaySpec(table=origin.get("table"), rows=row_dims, columns=col_dims,
                      statistic=aggfunc, values=values, where=where, margins=margins,
                      margins_name=margins_name)
    if where is not None:
        spec.where = str(parse_filter(where))
    known = set(origin.get("columns") or df.columns)
    spec.derived = [v for v in spec.variables() if v not in known]
    if origin and len(df) != origin.get("rows"):
        spec.unrecorded = (f"the data frame has {len(df)} rows, extract table "
                           f"{origin.get('table')!r} {origin.get('rows')}: rows were chosen "
                           "outside the library (choose them with where=)")
    return spec


def _describe(ev: TableEvidence) -> dict[str, Any]:
    return {"statistic": ev.statistic, "rows": ev.row_dims, "columns": ev.col_dims,
            "shape": [len(ev.row_labels), len(ev.col_labels)], "margins": ev.margins}
