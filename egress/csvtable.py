"""Checks for plain CSV tables made with neither spe's tables nor ACRO.

Without evidence the file is all there is: integer columns that look like counts get the
threshold, zeros and rounding rules; the file is searched for signs that it is row-level
data rather than a table (identifier-like columns, pseudonym-like or NIR-like values, one
person per row, as many rows as the cohort). Other numeric columns (means, rates) cannot be
checked without evidence and send the file to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import pandas as pd

from egress.errors import InputError
from egress.sdc.assess import Assessment, assess_table
from egress.sdc.evidence import TableEvidence
from egress.sdc.params import SdcRules

COUNT_NAME = re.compile(r"^(n|nb|count|counts|freq|frequency|number|effectif|effectifs|"
                        r"patients|persons|people|cases)$|^(n|nb|count)_|_(n|count)$",
                        re.IGNORECASE)
LABEL_NAME = re.compile(r"(^|_)(year|annee|age|code|dept|departement|region|month|mois|"
                        r"week|day|date|sex|sexe|zip|postcode|cim|icd|atc)(_|$)", re.IGNORECASE)
IDENTIFIER_NAME = re.compile(r"(^|_)(id|ident|identifier|identifiant|patient_?id|person_?id|"
                             r"nir|ssn|nhs_?number|nhs_?no|mrn|pseudo|pseudonym|pseudonyme|"
                             r"hash|ben_nir_psa|ben_idt_ano|num_enq|token)(_|$)", re.IGNORECASE)
HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
BASE64 = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/_-]{20,}={0,2}$")
NIR = re.compile(r"^[12][0-9]{12}([0-9]{2})?$")
TOTAL_LABELS = {"total", "totals", "all", "overall", "ensemble"}
PATTERN_SHARE = 0.5
PATTERN_SAMPLE = 200
NIR_MIN = 10**12
ONE_PER_ROW_SHARE = 0.5
MIN_ROWS_FOR_SHAPE = 100


@dataclass
class CsvTable:
    frame: pd.DataFrame
    labels: list[str]
    counts: list[str]
    other_numeric: list[str]


def read_csv(data: bytes, name: str, redact_marker: str | None) -> pd.DataFrame:
    """The CSV as a DataFrame; :class:`InputError` if it is not parseable as CSV."""
    na = [redact_marker] if redact_marker else None
    try:
        return pd.read_csv(BytesIO(data), na_values=na, keep_default_na=True,
                           skipinitialspace=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{name} is not a readable CSV: {exc}") from exc


def classify(frame: pd.DataFrame) -> CsvTable:
    """Split columns into labels, counts and other numeric columns."""
    candidates, other = [], []
    for col in frame.columns:
        s = frame[col]
        name = str(col)
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) \
                or LABEL_NAME.search(name) or IDENTIFIER_NAME.search(name):
            continue
        if _non_negative_integers(s):
            candidates.append(col)
        else:
            other.append(col)
    hinted = [c for c in candidates if COUNT_NAME.search(str(c))]
    totals = [c for c in candidates if str(c).strip().lower() in TOTAL_LABELS]
    counts = [c for c in candidates if c in hinted or c in totals] if hinted else candidates
    labels = [c for c in frame.columns if c not in counts and c not in other]  # file order
    return CsvTable(frame, labels, counts, other)


def _non_negative_integers(s: pd.Series) -> bool:
    v = s.dropna().to_numpy(dtype=float)
    return v.size > 0 and bool(np.all(v >= 0) and np.all(v == np.round(v)))


def check_csv_table(frame: pd.DataFrame, rules: SdcRules, *, cohort_size: int | None = None,
                    all_counts: bool = False) -> tuple[Assessment, TableEvidence | None]:
    """Flags for a plain CSV table, and its count evidence when it has count columns.

    ``all_counts``: every numeric column is a count (ACRO frequency tables).
    """
    table = classify(frame)
    if all_counts:
        table = CsvTable(frame, table.labels, table.counts + table.other_numeric, [])
    out = _row_level(table, rules, cohort_size)
    evidence = None
    if table.counts:
        evidence, redacted = _evidence(table)
        counted = assess_table(evidence, rules, suppressed=redacted)
        out.extend(counted)
        out.notes.append(f"count columns: {', '.join(map(str, table.counts))}")
    else:
        out.notes.append("no count column recognised: a person must check the table")
    if table.other_numeric:
        out.notes.append("numeric columns that are not counts cannot be checked without "
                         f"evidence: {', '.join(map(str, table.other_numeric))}")
    return out, evidence


def _evidence(table: CsvTable) -> tuple[TableEvidence, np.ndarray]:
    """Count evidence of the table, and which cells are blank or redacted."""
    f = table.frame
    values = f[table.counts].to_numpy(dtype=float)
    missing = np.isnan(values)  # redacted or blank: nothing shown, nothing to flag
    # a redacted cell shows nothing: no count rule applies to it
    count = np.where(missing, np.iinfo(np.int64).max // 2, values).astype(np.int64)
    if table.labels:
        row_labels = [tuple(r) for r in f[table.labels].astype(str).itertuples(index=False)]
    else:
        row_labels = [(str(i),) for i in range(len(f))]
    col_labels = [(str(c),) for c in table.counts]
    margins = _has_margins(row_labels, col_labels)
    ev = TableEvidence(statistic="count", row_dims=[str(c) for c in table.labels] or ["row"],
                       col_dims=["column"], row_labels=row_labels, col_labels=col_labels,
                       count=count, margins=margins)
    return ev, missing


def _has_margins(rows: list[tuple], cols: list[tuple]) -> bool:
    last_row = bool(rows) and any(str(v).strip().lower() in TOTAL_LABELS for v in rows[-1])
    last_col = bool(cols) and cols[-1][0].strip().lower() in TOTAL_LABELS
    return last_row and last_col and len(rows) > 1 and len(cols) > 1


def _row_level(table: CsvTable, rules: SdcRules, cohort_size: int | None) -> Assessment:
    out = Assessment()
    f = table.frame
    rows = len(f)
    params = {"max_rows": rules.max_csv_rows, "cohort_size": cohort_size,
              "pattern_share": PATTERN_SHARE}
    out.applied("row-level", **params)

    def whole(reason: str) -> None:
        out.flag((), (), "row-level", reason, "fail")

    if rules.max_csv_rows is not None and rows > rules.max_csv_rows:
        whole(f"{rows} rows, more than the {rules.max_csv_rows} a table may have")
    if cohort_size and rows >= 0.5 * cohort_size:
        whole(f"{rows} rows for a cohort of {cohort_size}: looks like one row per person")
    for col in f.columns:
        if IDENTIFIER_NAME.search(str(col)):
            whole(f"column {col!r} is named like an identifier")
            continue
        kind = _value_pattern(f[col])
        if kind:
            whole(f"column {col!r} holds {kind}-like values")
    if rows >= MIN_ROWS_FOR_SHAPE and table.counts:
        v = f[table.counts].to_numpy(dtype=float)
        ones = np.nanmean(v == 1) if v.size else 0.0
        if ones > ONE_PER_ROW_SHARE:
            whole(f"{ones:.0%} of the counts are 1: one person per row")
    if rows >= MIN_ROWS_FOR_SHAPE:
        for col in table.labels:
            distinct = f[col].nunique(dropna=True) / rows
            if distinct > 0.9:
                whole(f"column {col!r} is near-unique ({distinct:.0%} distinct over {rows} "
                      "rows): looks like row-level data")
    return out


def _value_pattern(s: pd.Series) -> str | None:
    """The identifier pattern most values of ``s`` follow (judged on a sample of 200)."""
    v = s.dropna()
    if v.empty:
        return None
    if pd.api.types.is_numeric_dtype(v):
        if not _non_negative_integers(v) or v.max() < NIR_MIN:
            return None
        v = v.astype(np.int64)
    text = v.iloc[:PATTERN_SAMPLE].astype(str).str.strip()
    for kind, pattern in (("NIR", NIR), ("hex digest", HEX), ("base64 token", BASE64)):
        if text.str.fullmatch(pattern).mean() > PATTERN_SHARE:
            return kind
    return None
