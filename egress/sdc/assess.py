"""Apply a pack's rules to a table's evidence: which rules ran, which cells they flagged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from egress.errors import EvidenceError
from egress.sdc import rules as r
from egress.sdc.evidence import MAGNITUDE, SINGLE_UNIT, TableEvidence
from egress.sdc.params import SdcRules
from spe.messages import Message

SEVERITY = {"pass": 0, "review": 1, "fail": 2}


@dataclass
class Assessment:
    """Rules applied (name and parameters) and cells flagged (labels, rule, reason)."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def applied(self, rule: str, **parameters: Any) -> None:
        self.rules.append({"rule": rule, "parameters": parameters})

    def flag(self, row: tuple, column: tuple, rule: str, reason: Message,
             severity: str) -> None:
        """Flag a cell (or, with empty labels, the file); ``reason`` is a :class:`Message`, so
        that the console can say it in the reader's language (``reason_message``)."""
        if not isinstance(reason, Message):
            raise TypeError(f"the reason of a {rule} flag must be a Message, not {reason!r}")
        self.flags.append({"row": [str(v) for v in row], "column": [str(v) for v in column],
                           "rule": rule, "reason": str(reason),
                           "reason_message": reason.as_json(), "severity": severity})

    def extend(self, other: Assessment) -> None:
        self.rules += other.rules
        self.flags += other.flags
        self.notes += other.notes

    @property
    def outcome(self) -> str:
        worst = max((SEVERITY[f["severity"]] for f in self.flags), default=0)
        return next(k for k, v in SEVERITY.items() if v == worst)


def assess_table(ev: TableEvidence, rules: SdcRules, *, reported: np.ndarray | None = None,
                 suppressed: np.ndarray | None = None) -> Assessment:
    """Flag the cells of ``ev`` that ``rules`` deem disclosive.

    ``reported`` are the values the file shows (for the rounding rule); by default the counts.
    ``suppressed`` marks cells already redacted in the file: not flagged themselves, but a
    margin that recovers one is.
    """
    out = Assessment()
    primary = np.zeros(ev.count.shape, dtype=bool)
    if suppressed is not None:
        primary |= suppressed

    def mark(mask: np.ndarray, rule: str, severity: str, reason) -> None:
        nonlocal primary
        if severity == "fail":
            primary |= mask
        for i, j in zip(*np.nonzero(mask), strict=True):
            out.flag(ev.row_labels[i], ev.col_labels[j], rule, reason(i, j), severity)

    count = ev.count
    out.applied("threshold", threshold=rules.threshold, zeros_disclosive=rules.zeros_disclosive)
    low = r.threshold_cells(count, rules.threshold, rules.zeros_disclosive) & (count > 0)
    mark(low, "threshold", "fail",
         lambda i, j: Message("{count} contributors, fewer than {threshold}", count=count[i, j],
                              threshold=rules.threshold))
    if ev.statistic == "count":
        out.applied("zeros", zeros_disclosive=rules.zeros_disclosive)
        mark(r.zero_cells(count, rules.zeros_disclosive), "zeros", "fail",
             lambda i, j: Message("empty cell: zeros are disclosive under this pack"))
    else:
        empty = r.threshold_cells(count, rules.threshold, rules.zeros_disclosive) & (count == 0)
        mark(empty, "threshold", "fail",
             lambda i, j: Message("no contributors, fewer than {threshold}",
                                  threshold=rules.threshold))
    if ev.statistic in MAGNITUDE:
        _dominance(ev, rules, out, mark)
    if ev.statistic in SINGLE_UNIT:
        out.applied("single-unit", outcome=rules.single_unit_stats)
        mark(r.single_unit_cells(count), "single-unit", rules.single_unit_stats,
             lambda i, j: Message("a {statistic} is one person's own value",
                                  statistic=ev.statistic))
    if ev.statistic == "count" and rules.rounding is not None:
        shown = count if reported is None else reported
        out.applied("rounding", base=rules.rounding.base, method=rules.rounding.method)
        mark(r.not_rounded(shown, rules.rounding), "rounding", "fail",
             lambda i, j: Message("{shown} is not rounded ({method}, base {base})",
                                  shown=shown[i, j], method=rules.rounding.method,
                                  base=rules.rounding.base))
    if ev.margins and rules.secondary:
        _secondary(ev, primary, out)
    return out


def _dominance(ev: TableEvidence, rules: SdcRules, out: Assessment, mark) -> None:
    kept = ev.top.shape[-1]
    if rules.dominance is not None:
        n, k = rules.dominance.n, rules.dominance.k
        if n > kept:
            raise EvidenceError(f"dominance with n={n} needs the top {n} contributions; "
                                f"the evidence keeps {kept}")
        out.applied("nk-dominance", n=n, k=k, on="absolute values")
        mark(r.nk_dominated(ev.top, ev.total, n, k), "nk-dominance", "fail",
             lambda i, j: Message("the {n} largest contributions make {share:.0%} of the "
                                  "total (limit {k:.0%})", n=n,
                                  share=ev.top[i, j, :n].sum() / ev.total[i, j], k=k))
    if rules.p_ratio is not None:
        p = rules.p_ratio
        out.applied("p-percent", p=p, on="absolute values")
        mark(r.p_percent_disclosive(ev.top, ev.total, p), "p-percent", "fail",
             lambda i, j: Message("the others sum to less than {p:.0%} of the largest "
                                  "contribution", p=p))
    if ev.negatives is not None and ev.negatives.any():
        out.notes.append(Message("negative contributions present: dominance judged on "
                                 "absolute values"))


def _secondary(ev: TableEvidence, primary: np.ndarray, out: Assessment) -> None:
    out.applied("secondary", margins=ev.margins_name)
    rows, cols = r.secondary_margins(ev.interior(primary))
    last_r, last_c = len(ev.row_labels) - 1, len(ev.col_labels) - 1
    for i in np.nonzero(rows)[0]:
        out.flag(ev.row_labels[i], ev.col_labels[last_c], "secondary", Message(
            "row total with exactly one flagged cell: total minus the others recovers it"),
            "fail")
    for j in np.nonzero(cols)[0]:
        out.flag(ev.row_labels[last_r], ev.col_labels[j], "secondary", Message(
            "column total with exactly one flagged cell: total minus the others recovers it"),
            "fail")
