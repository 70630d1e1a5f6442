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

Tables whose counts contradict the new table's group cannot count the same people; they
are sorted into groups that can (:func:`populations`). Each such group may count a part of
the new table's population or the reverse (a filter nobody recorded):
:mod:`egress.differencing.nested` bounds the difference under each hypothesis and hands a
small determined difference to a person (``review``). Tables that may be linked but whose
categories cannot be aligned also go to a person, never pass, and so does an audit that ran
out of its time budget (``BUDGET_SECONDS``) before bounding every cell.
"""

from __future__ import annotations

import math
import time

import numpy as np

from egress.differencing.findings import Disclosure, Finding, NotAudited
from egress.differencing.lp import EPS, System, culprits, feasible
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
from egress.differencing.nested import Nesting
from egress.differencing.tables import CountTable, Ledger
from spe.messages import Message

MAX_TARGETS = 2000
BUDGET_SECONDS = 5.0


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
        group = align([t for t in group if same_people(mine.population, t.population)])
        mine = group[0]
        signs = [_signs(mine, t) for t in group]
        # differences of both signs in cells both publish: neither the same people nor
        # one population inside the other; not combined
        kept = [i for i, t in enumerate(group) if not i or (_linked(mine, t)
                                                            and not {1, -1} <= signs[i])]
        group = [group[i] for i in kept]
        clash = {n for n, i in enumerate(kept) if n and signs[i]}
        if len(group) == 1 and mine.disjoint():
            return []
        try:
            every = dimensions(group)
            keep, projected = choose_dims(mine, group, every)
            model = build(group, every, keep, projected)
        except Unaligned as exc:
            return [NotAudited(str(exc))]
        sources = {id(r.source) for r in self.released}
        was_released = [False] + [id(t.source) in sources for t in group[1:]]
        deadline = time.monotonic() + BUDGET_SECONDS
        (first, *rest), unsorted = populations(model, clash, deadline)
        if first == [0] and not feasible(model, [0]):
            return [NotAudited(Message("the cells of {table} contradict each other (a total "
                                       "that is not the sum of its parts)", table=mine.name))]
        audit = _Audit(model, group, self.threshold, self.protection, deadline)
        found: list[Finding] = list(audit.disclosures(first, was_released))
        cut = audit.cut or (unsorted and Message(
            "the time budget ({seconds:g} s) ran out before {n} tables were sorted into "
            "populations", seconds=BUDGET_SECONDS, n=len(unsorted)))
        nesting = Nesting(model, [t.name for t in group], was_released, self.threshold)
        for other in rest:
            if cut:
                break
            more, cut = nesting.disclosures(first, other, MAX_TARGETS, deadline)
            found += more
        if cut:
            found.append(NotAudited(cut))
        return found


def same_people(new: tuple[str, str], other: tuple[str, str]) -> bool:
    """Tables may count the same people: the same measure, and the same dataset or one
    not known (a plain CSV file, an ACRO output: it may be any)."""
    return new[1] == other[1] and (new[0] == other[0] or not new[0] or not other[0])


def _linked(new: Prepared, other: Prepared) -> bool:
    """Tables that share a dimension, or a grand total, can constrain each other."""
    return not new.dims or not other.dims or bool(set(new.dims) & set(other.dims))


def _signs(new: Prepared, other: Prepared) -> set[int]:
    """The signs (1, -1) of ``other``'s count minus ``new``'s where they differ, in the cells
    both publish (as soon as both are seen): another count is not the same people."""
    mine, found = new.published, set()
    for k, (n, _) in other.published.items():
        m = mine.get(k)
        if m is not None and m[0] != n:
            found.add(1 if n > m[0] else -1)
            if len(found) == 2:
                break
    return found


def populations(model: Model, clash: set[int] = frozenset(),
                deadline: float = math.inf) -> tuple[list[list[int]], list[int]]:
    """The tables (indices into ``model.rows``) in groups that can each count the same
    people: first the new table's (table 0) with every table consistent with it, then the
    others' the same way; and the tables left unsorted when ``deadline`` passed. ``clash``:
    tables known not to fit the first group."""
    everyone = list(range(len(model.rows)))
    left = [i for i in everyone if i not in clash]
    first = left if feasible(model, left) else _greedy(model, left)
    groups = [first]
    left = [i for i in everyone if i not in first]
    while left and time.monotonic() < deadline:
        group = left if feasible(model, left) else _greedy(model, left)
        groups.append(group)
        left = [i for i in left if i not in group]
    return groups, left


def _greedy(model: Model, tables: list[int]) -> list[int]:
    """A group with ``tables[0]`` that no other of ``tables`` can join: the tables not among
    the culprits of the least-slack programme, then each culprit that fits, in order (every
    table in order when that start is not feasible)."""
    drop = culprits(model, tables)
    kept = [i for i in tables if i not in (drop or ())]
    if drop is None or not feasible(model, kept):
        kept, drop = tables[:1], tables[1:]
    for i in drop:
        if feasible(model, [*kept, i]):
            kept.append(i)
    return sorted(kept)


class _Audit:
    def __init__(self, model: Model, group: list[Prepared], threshold: int,
                 protection: int, deadline: float) -> None:
        self.model, self.group = model, group
        self.threshold, self.protection = threshold, protection
        self.deadline = deadline
        self.cut: Message | str = ""

    def disclosures(self, tables: list[int], released: list[bool]) -> list[Disclosure]:
        model = self.model
        system = System.of(model, [r for i in tables for r in model.rows[i]])
        alone = [i for i in tables if released[i]]
        before = System.of(model, [r for i in alone for r in model.rows[i]]) if alone else None
        published = {tuple(r.atoms.tolist()) for i in tables for r in model.rows[i] if r.equal}
        sums = [_Sums(model, model.rows[i]) for i in tables]
        cells, cut = targets(model, MAX_TARGETS)
        if cut:
            self.cut = Message("more than {limit} cells to bound; only the first {limit} "
                               "were", limit=MAX_TARGETS)
        deadline = self.deadline
        found = []
        revealed = np.zeros(model.size, dtype=bool)  # a margin over a flagged atom says no more
        for n, (label, atoms) in enumerate(cells):
            if revealed[atoms].any() or tuple(atoms.tolist()) in published:
                continue
            if time.monotonic() > deadline:
                self.cut = Message("the time budget ({seconds:g} s) ran out after {n} of "
                                   "{cells} cells", seconds=BUDGET_SECONDS, n=n,
                                   cells=len(cells))
                break
            c = np.zeros(model.size)
            c[atoms] = 1.0
            hit = self._small(system, c)
            if (hit is None or any(s.adds_up_to(atoms) for s in sums)
                    or (before is not None and self._small(before, c) is not None)):
                continue
            lo, hi, eq, ub = hit
            revealed[atoms] = True
            found.append(Disclosure(label, lo, hi, system.terms(eq, ub)))
        return found

    def _small(self, system: System, c: np.ndarray):
        """(lo, hi, duals of the lower bound) when ``c·x`` is pinned to a small group."""
        low = system.bound(c)
        if low is None:
            return None
        lo = math.ceil(low[0] - EPS)
        if not 1 <= lo < self.threshold:
            return None
        high = system.bound(-c)
        hi = math.inf if high is None or math.isinf(high[0]) else math.floor(-high[0] + EPS)
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
