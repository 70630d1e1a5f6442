"""What the differencing audit reports: a disclosed cell, or tables it could not audit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from spe.messages import Message

_EPS = 1e-6


@dataclass
class Disclosure:
    """A cell of the finest partition that the tables pin down to a small group.

    ``hypothesis`` is set when the finding holds only if one table's population contains
    another's (a filter nobody recorded): then a person decides (``review``). ``detail``
    adds what else is known of the cell; ``smaller`` is, under that hypothesis, the interval
    of the smaller population in the cell.
    """

    cell: str
    lo: int
    hi: float
    terms: list[tuple[float, str, str, int]] = field(default_factory=list)
    severity: str = "fail"
    hypothesis: Message | str = ""
    detail: Message | str = ""
    smaller: tuple[int, float] | None = None

    @property
    def tables(self) -> list[str]:
        return sorted({t for _, t, _, _ in self.terms})

    @property
    def arithmetic(self) -> str:
        parts = [f"{'-' if k < 0 else '+'} {_coef(abs(k))}{table}[{cell}] ({n})"
                 for k, table, cell, n in self.terms]
        return f"{self.lo} = {' '.join(parts).lstrip('+ ')}" if parts else str(self.lo)

    def flag(self) -> dict[str, Any]:
        known = (Message("exactly {lo}", lo=self.lo) if self.hi == self.lo
                 else Message("between {lo} and {hi}", lo=self.lo, hi=_num(self.hi)))
        reason = Message("{hypothesis}{cell}: {known} people{detail}, revealed with {tables}: "
                         "{arithmetic}", hypothesis=self.hypothesis, cell=self.cell, known=known,
                         detail=self.detail, tables=", ".join(self.tables),
                         arithmetic=self.arithmetic)
        evidence = {"interval": [self.lo, _finite(self.hi)], "tables": self.tables,
                    "terms": [{"coefficient": k, "table": t, "cell": c, "count": n}
                              for k, t, c, n in self.terms]}
        if self.smaller is not None:
            evidence["smaller"] = [self.smaller[0], _finite(self.smaller[1])]
        return {"row": [self.cell], "column": [], "rule": "differencing", "reason": str(reason),
                "reason_message": reason.as_json(), "severity": self.severity,
                "evidence": evidence}


@dataclass
class NotAudited:
    """Tables that may count the same people but could not be lined up: a person decides."""

    reason: Message | str

    def flag(self) -> dict[str, Any]:
        reason = Message("differencing could not be audited: {reason}", reason=self.reason)
        return {"row": [], "column": [], "rule": "differencing", "severity": "review",
                "reason": str(reason), "reason_message": reason.as_json()}


Finding = Disclosure | NotAudited


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def _coef(k: float) -> str:
    return "" if abs(k - 1) < _EPS else f"{_num(k)} x "


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
