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
population that contains the other's (every cell both publish at least as large in one: a
wider filter nobody recorded), a small difference in a cell they both publish goes to a
person (``review``) with that hypothesis spelt out. Tables that may be linked but whose
categories cannot be aligned also go to a person, never pass, and so does an audit that ran
out of its time budget (``BUDGET_SECONDS``) before bounding every cell.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from egress.differencing.model import (
    Model,
    Prepared,
    Row,
    Unaligned,
    align,
    build,
    choose_dims,
    dimensions,
    prepare,
    targets,
)
from egress.differencing.tables import CountTable, Ledger

if TYPE_CHECKING:
    from scipy import sparse

MAX_TARGETS = 2000
BUDGET_SECONDS = 5.0
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
    return Auditor(ledger, threshold, protection).check(new, others)


class Auditor:
    """Audits the tables of a request against one ledger, reading each table once.

    ``protection`` is the narrowest interval a small group may be known within (default:
    the threshold).
    """

    def __init__(self, ledger: Ledger | None, threshold: int,
                 protection: int | None = None) -> None:
        self.threshold = threshold
        self.protection = threshold if protection is None else protection
        self.released = [prepare(t) for t in (ledger.tables if ledger else [])]
        self._prepared: dict[int, tuple[CountTable, Prepared]] = {}

    def _prepare(self, table: CountTable) -> Prepared:
        kept = self._prepared.get(id(table))
        if kept is None or kept[0] is not table:
            kept = self._prepared[id(table)] = (table, prepare(table))
        return kept[1]

    def check(self, new: CountTable, others: list[CountTable] = ()) -> list[Finding]:
        mine = self._prepare(new)
        group = [mine, *(self._prepare(t) for t in others), *self.released]
        group = align([t for t in group if t.population == mine.population])
        mine = group[0]
        group = [mine, *(t for t in group[1:] if _linked(mine, t))]
        clash = [t for t in group[1:] if _contradicts(mine, t)]
        found: list[Finding] = [d for t in clash
                                for d in _nested(mine, t, self.threshold, self.protection)]
        group = [t for t in group if not any(t is c for c in clash)]
        if len(group) == 1 and mine.disjoint():
            return found
        try:
            every = dimensions(group)
            keep, projected = choose_dims(mine, group, every)
            model = build(group, every, keep, projected)
        except Unaligned as exc:
            return [*found, NotAudited(str(exc))]
        sources = {id(r.source) for r in self.released}
        was_released = [False] + [id(t.source) in sources for t in group[1:]]
        audit = _Audit(model, group, self.threshold, self.protection)
        found += audit.disclosures(_consistent(model), was_released)
        if audit.cut:
            found.append(NotAudited(audit.cut))
        return found


def _linked(new: Prepared, other: Prepared) -> bool:
    """Tables that share a dimension, or a grand total, can constrain each other."""
    return not new.dims or not other.dims or bool(set(new.dims) & set(other.dims))


def _contradicts(new: Prepared, other: Prepared) -> bool:
    """``other`` gives another count to a cell ``new`` publishes: not the same people."""
    if set(new.values) != set(other.values):
        return False  # no cell in common
    mine = new.published
    return any(mine.get(k, (n, 0))[0] != n for k, (n, _) in other.published.items())


def _consistent(model: Model) -> list[int]:
    """Tables that can count the same people as the new one (the first), added one by one
    while the system stays feasible; the others are left out."""
    everyone = list(range(len(model.rows)))
    if _feasible(model, everyone):
        return everyone
    kept = [0]
    for i in everyone[1:]:
        if _feasible(model, [*kept, i]):
            kept.append(i)
    return kept


def _nested(new: Prepared, other: Prepared, threshold: int,
            protection: int) -> list[Disclosure]:
    """Small differences in the cells both tables publish, if one population contains the
    other's: every such difference of one sign, not all zero."""
    if set(new.values) != set(other.values):
        return []
    theirs = other.published
    pairs, signs = [], set()
    for k, mine in new.published.items():
        if k in theirs:
            d = theirs[k][0] - mine[0]
            signs.add((d > 0) - (d < 0))
            if {1, -1} <= signs:
                return []  # differences both ways: neither population contains the other
            pairs.append((mine, theirs[k]))
    diff = np.array([o[0] - m[0] for m, o in pairs])
    if not diff.any():
        return []
    outer, inner = (other.name, new.name) if diff.sum() > 0 else (new.name, other.name)
    hypothesis = (f"if {outer} counts a population that contains {inner}'s (every cell both "
                  "publish is at least as large in it), the people in one and not the other, ")
    found = []
    for (m, o), d in zip(pairs, diff, strict=True):
        if 1 <= abs(d) < min(threshold, protection + 1):
            mine = (new.name, new.shown[m[1]], m[0])
            theirs = (other.name, other.shown[o[1]], o[0])
            (bn, bc, b), (sn, sc, n) = (theirs, mine) if d > 0 else (mine, theirs)
            terms = [(1.0, bn, bc, b), (-1.0, sn, sc, n)]
            found.append(Disclosure(mine[1], int(abs(d)), int(abs(d)), terms, "review",
                                    hypothesis))
    return found


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
    def of(cls, model: Model, rows: list[Row]) -> _System:
        eq = [r for r in rows if r.equal]
        ub = [r for r in rows if not r.equal]
        return cls(eq, ub, model.matrix(eq) if eq else None, model.matrix(ub) if ub else None)

    def bound(self, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
        """min c·x with the duals of the equality and inequality rows; None when infeasible."""
        from scipy.optimize import linprog  # 0.2 s to import: only a group of tables gets here

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
        self.cut = ""

    def disclosures(self, tables: list[int], released: list[bool]) -> list[Disclosure]:
        model = self.model
        system = _System.of(model, [r for i in tables for r in model.rows[i]])
        alone = [i for i in tables if released[i]]
        before = _System.of(model, [r for i in alone for r in model.rows[i]]) if alone else None
        published = {tuple(r.atoms.tolist()) for i in tables for r in model.rows[i] if r.equal}
        sums = [_Sums(model, model.rows[i]) for i in tables]
        cells, cut = targets(model, MAX_TARGETS)
        if cut:
            self.cut = (f"more than {MAX_TARGETS} cells to bound; only the first "
                        f"{MAX_TARGETS} were")
        deadline = time.monotonic() + BUDGET_SECONDS
        found = []
        revealed = np.zeros(model.size, dtype=bool)  # a margin over a flagged atom says no more
        for n, (label, atoms) in enumerate(cells):
            if (revealed[atoms].any() or tuple(atoms.tolist()) in published
                    or any(s.adds_up_to(atoms) for s in sums)):
                continue
            if time.monotonic() > deadline:
                self.cut = (f"the time budget ({BUDGET_SECONDS:g} s) ran out after "
                            f"{n} of {len(cells)} cells")
                break
            c = np.zeros(model.size)
            c[atoms] = 1.0
            hit = self._small(system, c)
            if hit is None or (before is not None and self._small(before, c) is not None):
                continue
            lo, hi, eq, ub = hit
            revealed[atoms] = True
            found.append(Disclosure(label, lo, hi, _terms(system, eq, ub)))
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


class _Sums:
    """Which atom sets one table's published cells add up to exactly.

    A small sum of published cells is a set of small published cells: the threshold rule's
    business (each is flagged, or was when its table was released), not a combination.
    """

    def __init__(self, model: Model, rows: list[Row]) -> None:
        rows = [r for r in rows if r.equal]
        self.matrix = model.matrix(rows) if rows else None
        self.lengths = np.array([len(r.atoms) for r in rows])
        self.size = model.size

    def adds_up_to(self, atoms: np.ndarray) -> bool:
        if self.matrix is None:
            return False
        wanted = np.zeros(self.size)
        wanted[atoms] = 1.0
        inside = (self.matrix @ wanted) == self.lengths
        covered = np.asarray(self.matrix[inside].sum(axis=0)).ravel() > 0
        return bool((covered == (wanted > 0)).all())


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
