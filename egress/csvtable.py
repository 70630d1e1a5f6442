"""Checks for plain CSV tables made with neither spe's tables nor ACRO.

Without evidence the file is all there is, so a pass must be earned: the file is first
interpreted (:mod:`egress.interpret`), and it can pass only when every column has a known
meaning, every number is a count, and every check on those counts holds. Then:

- counts (totals included) get the threshold, zeros and rounding rules;
- suppressed cells (markers, blanks) stay cells: a total that recovers one, or shows that
  the suppressed cells of a row sum to fewer than the threshold, fails (rule ``secondary``);
- percentages rest on a denominator: the numerator they imply is checked like a count;
- means, sums and rates cannot pass without per-unit contributions (dominance); minima,
  maxima, medians are single people's values (pack's ``single_unit_stats``);
- the file is searched for signs of row-level data (identifier-like names or values,
  one person per row, quasi-identifier rows without counts, as many rows as the cohort);
- text cells a spreadsheet would run as formulas are flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from egress.csvformat import read_text
from egress.errors import InputError
from egress.interpret import Interpretation, interpret, words
from egress.sdc.assess import Assessment, assess_table
from egress.sdc.evidence import SINGLE_UNIT, TableEvidence
from egress.sdc.params import SdcRules
from spe.messages import Message

IDENTIFIER_NAME = re.compile(r"(^|_)(id|ident|identifier|identifiant|patient_?id|person_?id|"
                             r"nir|ssn|nhs_?number|nhs_?no|mrn|pseudo|pseudonym|pseudonyme|"
                             r"hash|ben_nir_psa|ben_idt_ano|num_enq|token)(_|$)", re.IGNORECASE)
HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
BASE64 = re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/_-]{20,}={0,2}$")
NIR = re.compile(r"^[12][0-9]{12}([0-9]{2})?$")
PATTERN_SHARE = 0.5
PATTERN_SAMPLE = 200
ONE_PER_ROW_SHARE = 0.5
MIN_ROWS_FOR_SHAPE = 100
REPEATED_CELLS_SHARE = 0.05
SUPPRESSED = np.iinfo(np.int64).max // 2  # a suppressed cell shows nothing: no count rule
FRACTION_WORDS = {"proportion", "prop", "share", "part"}


def not_understood(reason: Message | str) -> Message:
    """The note sending a table a person must read to review."""
    return Message("not understood, a person must check: {reason}", reason=reason)


@dataclass
class CsvCheck:
    """What the checks found, the interpretation they rest on, and the least outcome."""

    assessment: Assessment
    at_least: str
    interpretation: Interpretation | None = None
    evidence: TableEvidence | None = None  # interior count cells, for differencing

    def interpretation_json(self) -> dict[str, Any] | None:
        return None if self.interpretation is None else self.interpretation.to_json()


def check_csv_bytes(data: bytes, name: str, rules: SdcRules, *, cohort_size: int | None = None,
                    label_columns: int = 0, claimed_counts: bool = False) -> CsvCheck:
    """Interpret and check one CSV file.

    ``label_columns``: leading columns that are labels whatever they hold (ACRO's layout).
    ``claimed_counts``: outside evidence (ACRO) says the numbers are counts: they are then
    checked as counts too, which can only add flags; the file still cannot pass unless its
    own cells say what they are.
    """
    try:
        text = read_text(data, name)
    except InputError as exc:
        return CsvCheck(Assessment(notes=[Message("cannot interpret the file: {exc}", exc=exc)]),
                        "review")
    interp = interpret(text, rules.markers, label_columns,
                       rules.rounding.base if rules.rounding else None, rules.threshold)
    out = Assessment()
    counts = interp.role("count")
    checked = counts + ([j for j, c in enumerate(interp.columns)
                         if c.role == "unknown" and c.addable] if claimed_counts else [])
    _row_level(interp, rules, cohort_size, out)
    _formulas(interp, out)
    evidence = None
    if checked:
        _counts(interp, sorted(checked), rules, out)
        evidence = _interior_evidence(interp, counts) if counts else None
    if rules.secondary and interp.constraints:
        _recover(interp, set(checked), rules, out)
    _hidden_groups(interp, rules, out)
    _percentages(interp, rules, out)
    _statistics(interp, rules, out)
    out.notes += interp.notes
    return CsvCheck(out, _at_least(interp, out), interp, evidence)


def _at_least(interp: Interpretation, out: Assessment) -> str:
    """``pass`` only for a file every cell of which is understood and checkable."""
    reasons = [Message("column {column!r}: {reason}", column=c.name, reason=c.reason)
               for c in interp.columns if c.role == "unknown"]
    if not interp.role("count"):
        reasons.append(Message("no column of counts: nothing here spe can check"))
    magnitude = [c.name for c in interp.columns if c.role == "statistic" and
                 c.statistic not in (*SINGLE_UNIT, "quantile")]
    if magnitude:
        reasons.append(Message("means, sums or rates cannot pass without the per-unit "
                               "contributions behind them (dominance): {columns}",
                               columns=', '.join(map(repr, magnitude))))
    reasons += [Message("number format: {assumption}", assumption=a)
                for a in interp.text.format.assumptions]
    reasons += interp.doubts
    out.notes += [not_understood(r) for r in reasons]
    return "review" if reasons else "pass"


def _counts(interp: Interpretation, cols: list[int], rules: SdcRules, out: Assessment) -> None:
    names = interp.text.header
    values = interp.values[:, cols]
    suppressed = interp.suppressed[:, cols]
    count = np.where(suppressed, SUPPRESSED, np.nan_to_num(values)).astype(np.int64)
    ev = TableEvidence(statistic="count", row_dims=_row_dims(interp), col_dims=["column"],
                       row_labels=[interp.row_label(i) for i in range(len(values))],
                       col_labels=[(names[j],) for j in cols], count=count)
    shown = np.where(suppressed, np.nan, values)  # a suppressed cell shows no number
    out.extend(assess_table(ev, rules, reported=shown, suppressed=suppressed))


def _recover(interp: Interpretation, counted: set[int], rules: SdcRules,
             out: Assessment) -> None:
    """Solve the totals' constraints for suppressed cells, as an intruder would."""
    out.applied("secondary", constraints=len(interp.constraints))
    names = interp.text.header
    known = ~interp.suppressed
    value = interp.values.copy()
    recovered: dict[tuple[int, int], float] = {}
    progress = True
    while progress:
        progress = False
        for total, parts in interp.constraints:
            cells = [total, *parts]
            unknown = [c for c in cells if not known[c]]
            if len(unknown) != 1:
                continue
            (i, j), = unknown
            rest = sum(value[c] for c in parts if known[c])
            value[i, j] = rest if (i, j) == total else value[total] - rest
            known[i, j] = True
            recovered[(i, j)] = value[i, j]
            progress = True
    for (i, j), v in recovered.items():
        out.flag(interp.row_label(i), (names[j],), "secondary",
                 Message("suppressed cell recovered from a total: it is {v:g} (suppression "
                         "without secondary suppression)", v=v), "fail")
    for total, parts in interp.constraints:
        hidden = [c for c in parts if not known[c]]
        if len(hidden) < 2 or not known[total] or total[1] not in counted:
            continue
        rest = value[total] - sum(value[c] for c in parts if known[c])
        if 0 < rest < rules.threshold or (rest == 0 and rules.zeros_disclosive):
            for i, j in hidden:
                out.flag(interp.row_label(i), (names[j],), "secondary",
                         Message("the {n_hidden} suppressed cells of this total sum to "
                                 "{rest:g}, fewer than {threshold}: each is at most {rest:g}",
                                 n_hidden=len(hidden), rest=rest, threshold=rules.threshold),
                         "fail")


def _hidden_groups(interp: Interpretation, rules: SdcRules, out: Assessment) -> None:
    """A total larger than its shown parts reveals a group the table leaves out."""
    names = interp.text.header
    for i, j, extra in interp.mismatches:
        label = interp.row_label(i)
        if 0 < extra < rules.threshold:
            out.flag(label, (names[j],), "secondary", Message("the total exceeds the sum of "
                                                              "its parts by {extra:g}: a "
                                                              "group of {extra:g} not shown",
                                                              extra=extra), "fail")
        else:
            out.flag(label, (names[j],), "secondary", Message("this total is not the sum of "
                                                              "its parts (off by {extra:g}): "
                                                              "a person must check what it "
                                                              "adds", extra=extra), "review")


def _interior_evidence(interp: Interpretation, counts: list[int]) -> TableEvidence:
    names = interp.text.header
    cols = [j for j in counts if not interp.columns[j].total_of]
    rows = [i for i in range(len(interp.values)) if i not in interp.total_rows]
    count = np.where(interp.suppressed[np.ix_(rows, cols)], SUPPRESSED,
                     np.nan_to_num(interp.values[np.ix_(rows, cols)])).astype(np.int64)
    return TableEvidence(statistic="count", row_dims=_row_dims(interp), col_dims=["column"],
                         row_labels=[interp.row_label(i) for i in rows],
                         col_labels=[(names[j],) for j in cols], count=count)


def _row_dims(interp: Interpretation) -> list[str]:
    return [interp.columns[j].name for j in interp.role("dimension")] or ["row"]


def _percentages(interp: Interpretation, rules: SdcRules, out: Assessment) -> None:
    """A share within a row implies a numerator: percentage x denominator; check it."""
    names = interp.text.header
    for j in interp.role("percentage"):
        col = interp.columns[j]
        base = names.index(col.denominator.removesuffix(" (column total)"))
        out.applied("percentage", column=col.name, denominator=col.denominator)
        if col.statistic != "share within the row":
            continue  # the numerator is the count column itself, checked already
        p, d = interp.values[:, j], interp.values[:, base]
        scale = 1.0 if set(words(col.name)) & FRACTION_WORDS and np.nanmax(p) <= 1 else 100.0
        with np.errstate(invalid="ignore"):
            numerator = np.round(p / scale * d)
        for i in np.nonzero(~np.isnan(numerator))[0]:
            x = numerator[i]
            if 0 < x < rules.threshold or (x == 0 and p[i] == 0 and rules.zeros_disclosive
                                           and d[i] > 0):
                share = f"{p[i]:g}{'%' if scale == 100 else ''}"
                out.flag(interp.row_label(i), (col.name,), "percentage",
                         Message("{share} of {total:g} is {people:g} people, fewer than "
                                 "{threshold}", share=share, total=d[i], people=x,
                                 threshold=rules.threshold) if x else
                         Message("0% of {total:g}: an empty group, disclosive under this pack",
                                 total=d[i]), "fail")


def _statistics(interp: Interpretation, rules: SdcRules, out: Assessment) -> None:
    for j in interp.role("statistic"):
        col = interp.columns[j]
        if col.statistic not in (*SINGLE_UNIT, "quantile"):
            continue
        out.applied("single-unit", column=col.name, outcome=rules.single_unit_stats)
        shown = np.nonzero(~interp.suppressed[:, j])[0]
        for i in shown:
            out.flag(interp.row_label(i), (col.name,), "single-unit",
                     Message("a {statistic} is one person's own value", statistic=col.statistic),
                     rules.single_unit_stats)


def _formulas(interp: Interpretation, out: Assessment) -> None:
    if not interp.formulas:
        return
    out.applied("formula")
    names = interp.text.header
    for i, j in interp.formulas:
        out.flag(interp.row_label(i), (names[j],), "formula",
                 Message("a spreadsheet would run this cell as a formula; downloads "
                         "neutralise it"),
                 "review")


def _row_level(interp: Interpretation, rules: SdcRules, cohort_size: int | None,
               out: Assessment) -> None:
    rows = len(interp.values)
    names = interp.text.header
    out.applied("row-level", max_rows=rules.max_csv_rows, cohort_size=cohort_size,
                pattern_share=PATTERN_SHARE)

    def whole(reason: Message) -> None:
        out.flag((), (), "row-level", reason, "fail")

    if rules.max_csv_rows is not None and rows > rules.max_csv_rows:
        whole(Message("{rows} rows, more than the {max_rows} a table may have", rows=rows,
                      max_rows=rules.max_csv_rows))
    if cohort_size and rows >= 0.5 * cohort_size:
        whole(Message("{rows} rows for a cohort of {cohort_size}: looks like one row per "
                      "person", rows=rows, cohort_size=cohort_size))
    for j, col in enumerate(names):
        if IDENTIFIER_NAME.search(col):
            whole(Message("column {column!r} is named like an identifier", column=col))
            continue
        kind = _value_pattern([r[j] for r in interp.text.rows[:PATTERN_SAMPLE]])
        if kind:
            whole(Message("column {column!r} holds {kind}-like values", column=col, kind=kind))
    if rows < MIN_ROWS_FOR_SHAPE:
        return
    counts, dims = interp.role("count"), interp.role("dimension")
    if counts:
        v = interp.values[:, counts]
        ones = float(np.nanmean(v == 1)) if v.size else 0.0
        if ones > ONE_PER_ROW_SHARE:
            whole(Message("{ones:.0%} of the counts are 1: one person per row", ones=ones))
    if dims:
        repeated = 1 - len(set(interp.row_labels)) / rows
        if not counts and repeated >= REPEATED_CELLS_SHARE:
            whole(Message("{repeated:.0%} of the rows repeat the labels of another row and no "
                          "column counts people: rows look like people, not cells",
                          repeated=repeated))
        elif not counts and len(dims) >= 2 and len(dims) == len(interp.columns):
            whole(Message("{rows} rows of quasi-identifiers ({columns}) and no count: looks "
                          "like one row per person", rows=rows,
                          columns=", ".join(names[d] for d in dims)))
        if len(dims) >= 2 or not counts:
            for k, d in enumerate(dims):
                distinct = len({lab[k] for lab in interp.row_labels}) / rows
                if distinct > 0.9:
                    whole(Message("column {column!r} is near-unique ({distinct:.0%} distinct "
                                  "over {rows} rows): looks like row-level data",
                                  column=names[d], distinct=distinct, rows=rows))


def _value_pattern(cells: list[str]) -> str | None:
    """The identifier pattern most of ``cells`` follow."""
    text = [c.strip() for c in cells if c.strip()]
    if not text:
        return None
    for kind, pattern in (("NIR", NIR), ("hex digest", HEX), ("base64 token", BASE64)):
        if sum(bool(pattern.fullmatch(t)) for t in text) / len(text) > PATTERN_SHARE:
            return kind
    return None
