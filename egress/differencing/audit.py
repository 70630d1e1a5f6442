"""The differencing audit: what do the released tables and a request reveal together?

For a new count table, the project's released tables of the same population and the other
tables of the request are put in one linear system over the finest common partition
(:mod:`egress.differencing.model`). For every atom the new table touches, and every margin of
one dimension, linear programming (HiGHS, counts >= 0) gives the tightest interval the
tables allow, rounded inwards to whole people. A cell is disclosed when that interval shows a
small group exists: at least one person, fewer than the threshold, known within less than
the protection range (``hi - lo < protection``; an exact value is the narrowest case). Cells
already pinned down by the released tables alone are not the new table's doing and are not
flagged; cells a table publishes itself are the primary rules' business.

The dual solution of the bounding programme is the arithmetic a checker can follow: the
published cells, with their coefficients, whose combination gives the bound.

Tables whose counts contradict the group cannot count the same people. If one could count a
population that contains the other's (every aligned cell at least as large: a wider filter
nobody recorded), the difference population is bounded the same way, and a small group in it
goes to a person (``review``) with that hypothesis spelt out. Tables that may be linked but
whose categories cannot be aligned also go to a person, never pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from egress.differencing.model import (
    Model,
    Prepared,
    Row,
    Unaligned,
    align,
    build,
    choose_dims,
    prepare,
    targets,
)
from egress.differencing.tables import CountTable, Ledger

MAX_TARGETS = 2000
_EPS = 1e-6


@dataclass
class Disclosure:
    """A cell of the finest partition that the tables pin down to a small group."""

    cell: str
    lo: int
    hi: float
    terms: list[tuple[float, str, str, int]] = field(default_factory=list)
    severity: str = "fail"
    hypothesis: str = ""

    @property
    def tables(self) -> list[str]:
        return sorted({t for _, t, _, _ in self.terms})

    @property
    def arithmetic(self) -> str:
        parts = [f"{'-' if k < 0 else '+'} {_coef(abs(k))}{table}[{cell}] ({n})"
                 for k, table, cell, n in self.terms]
        return f"{self.lo} = {' '.join(parts).lstrip('+ ')}" if parts else str(self.lo)

    def flag(self) -> dict[str, Any]:
        known = (f"exactly {self.lo}" if self.hi == self.lo
                 else f"between {self.lo} and {_num(self.hi)}")
        reason = (f"{self.hypothesis}{self.cell}: {known} people, revealed with "
                  f"{', '.join(self.tables)}: {self.arithmetic}")
        return {"row": [self.cell], "column": [], "rule": "differencing", "reason": reason,
                "severity": self.severity,
                "evidence": {"interval": [self.lo, None if math.isinf(self.hi) else self.hi],
                             "tables": self.tables,
                             "terms": [{"coefficient": k, "table": t, "cell": c, "count": n}
                                       for k, t, c, n in self.terms]}}


@dataclass
class NotAudited:
    """Tables that may count the same people but could not be lined up: a person decides."""

    reason: str

    def flag(self) -> dict[str, Any]:
        return {"row": [], "column": [], "rule": "differencing", "severity": "review",
                "reason": f"differencing could not be audited: {self.reason}"}


Finding = Disclosure | NotAudited


def check_differencing(new: CountTable, ledger: Ledger | None, threshold: int,
                       others: list[CountTable] = (), protection: int | None = None,
                       ) -> list[Finding]:
    """What ``new`` reveals together with the ledger's tables and the request's ``others``."""
    protection = threshold if protection is None else protection
    mine = prepare(new)
    released = [prepare(t) for t in (ledger.tables if ledger else [])]
    group = [mine, *(prepare(t) for t in others), *released]
    group = [t for t in group if t.population == mine.population]
    align(group)
    group = [mine, *(t for t in group[1:] if _linked(mine, t))]
    try:
        keep, projected = choose_dims(mine, group)
        model = build(group, keep, projected)
    except Unaligned as exc:
        return [NotAudited(str(exc))]
    consistent, conflicting = _consistent(model)
    was_released = [False] + [any(t is r for r in released) for t in group[1:]]
    audit = _Audit(model, group, threshold, protection)
    found: list[Finding] = audit.disclosures(consistent, was_released)
    for i in conflicting:
        found += audit.nested(i)
    if audit.cut:
        found.append(NotAudited(f"more than {MAX_TARGETS} cells to bound; only the first "
                                f"{MAX_TARGETS} were"))
    return found


def _linked(new: Prepared, other: Prepared) -> bool:
    """Tables that share a dimension, or a grand total, can constrain each other."""
    return not new.dims or not other.dims or bool(set(new.dims) & set(other.dims))


def _consistent(model: Model) -> tuple[list[int], list[int]]:
    """Tables that can count the same people (the new one first), and those that cannot."""
    everyone = list(range(len(model.rows)))
    if _feasible(model, everyone):
        return everyone, []
    kept, dropped = [0], []
    for i in everyone[1:]:
        (kept if _feasible(model, [*kept, i]) else dropped).append(i)
    return kept, dropped


def _feasible(model: Model, tables: list[int]) -> bool:
    system = _System.of(model, [r for i in tables for r in model.rows[i]])
    return system.bound(np.zeros(model.size)) is not None


@dataclass
class _System:
    """``A_eq x = b_eq, A_ub x <= b_ub, x >= 0`` with the rows they came from."""

    eq: list[Row]
    ub: list[Row]
    a_eq: sparse.csr_matrix | None
    a_ub: sparse.csr_matrix | None

    @classmethod
    def of(cls, model: Model, rows: list[Row], width: int | None = None,
           shift: list[Row] = ()) -> _System:
        """``shift`` rows apply to ``x + d`` where ``d`` is a second block of variables."""
        width = width or model.size
        eq = [r for r in rows if r.equal]
        ub = [r for r in rows if not r.equal]

        def matrix(part: list[Row]) -> sparse.csr_matrix | None:
            if not part:
                return None
            m = model.matrix(part)
            shifted = sparse.diags([1.0 if any(r is s for s in shift) else 0.0 for r in part])
            blocks = [m] if width == model.size else [m, (shifted @ m).tocsr()]
            return sparse.hstack(blocks, format="csr")

        return cls(eq, ub, matrix(eq), matrix(ub))

    def bound(self, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
        """min c·x with the duals of the equality and inequality rows; None when infeasible."""
        res = linprog(c, A_ub=self.a_ub, b_ub=[r.count for r in self.ub] or None,
                      A_eq=self.a_eq, b_eq=[r.count for r in self.eq] or None,
                      bounds=(0, None), method="highs")
        if res.status == 2:
            return None
        if res.status == 3:
            return -math.inf, np.zeros(len(self.eq)), np.zeros(len(self.ub))
        if res.status != 0:
            raise Unaligned(f"the linear programme did not solve: {res.message}")
        eq = res.eqlin.marginals if self.eq else np.zeros(0)
        ub = res.ineqlin.marginals if self.ub else np.zeros(0)
        return res.fun, eq, ub


class _Audit:
    def __init__(self, model: Model, group: list[Prepared], threshold: int,
                 protection: int) -> None:
        self.model, self.group = model, group
        self.threshold, self.protection = threshold, protection
        self.cut = False

    def disclosures(self, tables: list[int], released: list[bool]) -> list[Disclosure]:
        model = self.model
        system = _System.of(model, [r for i in tables for r in model.rows[i]])
        alone = [i for i in tables if released[i]]
        before = _System.of(model, [r for i in alone for r in model.rows[i]]) if alone else None
        published = {tuple(r.atoms.tolist()) for rows in model.rows for r in rows if r.equal}
        cells, self.cut = targets(model, MAX_TARGETS)
        found = []
        revealed = np.zeros(model.size, dtype=bool)  # a margin over a flagged atom says no more
        for label, atoms in cells:
            if tuple(np.sort(atoms).tolist()) in published or revealed[atoms].any():
                continue
            c = np.zeros(model.size)
            c[atoms] = 1.0
            hit = self._small(system, c)
            if hit is None or (before is not None and self._small(before, c) is not None):
                continue
            if self._published_sum(atoms, tables):
                continue
            lo, hi, eq, ub = hit
            revealed[atoms] = True
            found.append(Disclosure(label, lo, hi, _terms(system, eq, ub)))
        return found

    def _published_sum(self, atoms: np.ndarray, tables: list[int]) -> bool:
        """Whether one table publishes cells that add up to exactly these atoms.

        Such a small sum means small published cells: the threshold rule's business, where
        each of them is flagged (or was, when its table was released), not a combination.
        """
        wanted = np.zeros(self.model.size, dtype=bool)
        wanted[atoms] = True
        for i in tables:
            covered = np.zeros(self.model.size, dtype=bool)
            for row in self.model.rows[i]:
                if row.equal and wanted[row.atoms].all():
                    covered[row.atoms] = True
            if (covered == wanted).all():
                return True
        return False

    def nested(self, i: int) -> list[Disclosure]:
        """Bound the difference population if one of the two tables' contains the other's."""
        model, other = self.model, self.group[i]
        found = []
        for inner, outer in ((0, i), (i, 0)):
            rows = [*model.rows[inner], *model.rows[outer]]
            system = _System.of(model, rows, width=2 * model.size, shift=model.rows[outer])
            if system.bound(np.zeros(2 * model.size)) is None:
                continue
            wider = other.name if outer == i else "this table"
            narrower = "this table" if outer == i else other.name
            hypothesis = (f"if {wider} counts a population that contains {narrower}'s (their "
                          "counts differ, every cell the same way), the people in one and not "
                          "the other, ")
            cells, cut = targets(model, MAX_TARGETS)
            self.cut |= cut
            revealed = np.zeros(model.size, dtype=bool)
            for label, atoms in cells:
                if revealed[atoms].any():
                    continue
                c = np.zeros(2 * model.size)
                c[model.size + atoms] = 1.0
                hit = self._small(system, c)
                if hit is not None:
                    lo, hi, eq, ub = hit
                    revealed[atoms] = True
                    found.append(Disclosure(label, lo, hi, _terms(system, eq, ub), "review",
                                            hypothesis))
        return found

    def _small(self, system: _System, c: np.ndarray):
        """(lo, hi, duals of the lower bound) when ``c·x`` is pinned to a small group."""
        low = system.bound(c)
        if low is None:
            return None
        lo = math.ceil(low[0] - _EPS)
        if not 1 <= lo < self.threshold:
            return None
        high = system.bound(-c)
        hi = math.inf if high is None or math.isinf(high[0]) else math.floor(-high[0] + _EPS)
        if hi - lo >= self.protection:
            return None
        return lo, hi, low[1], low[2]


def _terms(system: _System, eq: np.ndarray, ub: np.ndarray) -> list[tuple[float, str, str, int]]:
    rows = [*system.eq, *system.ub]
    duals = np.concatenate([eq, ub])
    terms = [(round(float(k), 6), r.table, r.cell, r.count)
             for k, r in zip(duals, rows, strict=True) if abs(k) > _EPS]
    return sorted(terms, key=lambda t: -t[0])


def _coef(k: float) -> str:
    return "" if abs(k - 1) < _EPS else f"{_num(k)} x "


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
