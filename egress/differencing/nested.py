"""Nested populations: what a table reveals if it counts a part of another's population.

Tables that cannot count the same people (their system is infeasible) may still count one
population and a part of it: the same tables with a filter nobody recorded ("age >= 18",
then "age >= 19"). Under each hypothesis, the new table's population inside the other
tables', or theirs inside its own, the unknowns are ``x >= 0``, the smaller population's
atoms, and ``d >= 0``, the people of the larger population not in the smaller one; each
table constrains its own population (``x`` or ``x + d``). A hypothesis the tables make
infeasible is rejected. Under one that holds, every cell the new table touches whose ``d``
the tables determine exactly, at one person or more but under the threshold, is a small
group the difference reveals. It holds only under the hypothesis: a person decides
(``review``), with the hypothesis and the arithmetic spelt out.

Tables that cannot be nested either way are different populations and are not combined.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from egress.differencing.findings import Disclosure
from egress.differencing.lp import EPS, System
from egress.differencing.model import Model, targets
from spe.messages import Message


@dataclass
class Nesting:
    """Two groups of tables (indices into ``model.rows``), each of one population."""

    model: Model
    names: list[str]
    released: list[bool]
    threshold: int
    _targets: list[tuple[str, np.ndarray]] | None = None

    def disclosures(self, first: list[int], other: list[int], limit: int,
                    deadline: float) -> tuple[list[Disclosure], Message | str]:
        """Small determined differences between the new table's group ``first`` and the
        group ``other``, under each hypothesis that holds; and why the search stopped
        short, if it did."""
        found: list[Disclosure] = []
        for smaller, larger in ((first, other), (other, first)):
            more, cut = self._under(smaller, larger, limit, deadline)
            found += more
            if cut:
                return found, cut
        return found, ""

    def _under(self, smaller: list[int], larger: list[int], limit: int,
               deadline: float) -> tuple[list[Disclosure], str]:
        n = self.model.size
        system = self._system(smaller, larger)
        anywhere = system.point()
        if anywhere is None:
            return [], ""  # the tables rule this nesting out
        least = system.point(np.concatenate([np.zeros(n), np.ones(n)]))
        points = [p for p in (anywhere, least) if p is not None]
        before = self._released_only(smaller, larger)
        big, small = _names(self.names, larger), _names(self.names, smaller)
        hypothesis = Message("if the population counted by {big} contains the one counted "
                             "by {small} (a filter nobody recorded), the people counted by "
                             "{big} and not by {small}, ", big=big, small=small)
        found = []
        revealed = np.zeros(n, dtype=bool)  # a cell over a flagged atom says no more
        for label, atoms in self._cells(limit):
            values = [float(p[n + atoms].sum()) for p in points]
            value = values[0]
            if (max(values) - min(values) > EPS or abs(value - round(value)) > EPS
                    or not 1 <= round(value) < self.threshold or revealed[atoms].any()):
                continue  # not determined (two solutions differ), or not small
            if time.monotonic() > deadline:
                return found, Message("the time budget ran out while bounding the "
                                      "difference between {big} and {small}", big=big,
                                      small=small)
            c = np.zeros(2 * n)
            c[n + atoms] = 1.0
            exact = _exact(system, c)
            if exact is None or (before is not None and _exact(before, c) is not None):
                continue  # not determined, or already by the released tables alone
            d, eq, ub = exact
            revealed[atoms] = True
            inside = np.zeros(2 * n)
            inside[atoms] = 1.0
            lo, hi = _interval(system, inside)
            found.append(Disclosure(
                label, d, d, system.terms(eq, ub), "review", hypothesis,
                Message(" ({known} in the smaller population)", known=_known(lo, hi)),
                (lo, hi)))
        return found, ""

    def _cells(self, limit: int) -> list[tuple[str, np.ndarray]]:
        if self._targets is None:
            self._targets = _cells(self.model, limit)
        return self._targets

    def _system(self, smaller: list[int], larger: list[int]) -> System:
        rows = self.model.rows
        return System.nested(self.model, [r for i in smaller for r in rows[i]],
                             [r for i in larger for r in rows[i]])

    def _released_only(self, smaller: list[int], larger: list[int]) -> System | None:
        """The same hypothesis over the released tables alone, when both sides have some."""
        smaller = [i for i in smaller if self.released[i]]
        larger = [i for i in larger if self.released[i]]
        return self._system(smaller, larger) if smaller and larger else None


def _cells(model: Model, limit: int) -> list[tuple[str, np.ndarray]]:
    """Atoms the new table touches, then its own cells, one-dimension margins and everyone
    (how many people a filter left out); a cell the new table publishes keeps its label as
    the table writes it."""
    cells, _ = targets(model, limit)
    own = [(r.cell, r.atoms) for r in model.rows[0]]
    shown = {tuple(sorted(a.tolist())): label for label, a in own}
    ordered = ([c for c in cells if len(c[1]) == 1] + own
               + [c for c in cells if len(c[1]) > 1] + [("all", np.arange(model.size))])
    seen, out = set(), []
    for label, atoms in ordered:
        key = tuple(sorted(atoms.tolist()))
        if key not in seen:
            seen.add(key)
            out.append((shown.get(key, label), atoms))
    return out[:limit]


def _exact(system: System, c: np.ndarray) -> tuple[int, np.ndarray, np.ndarray] | None:
    """``c·z`` when the system determines it to a whole number, with the lower bound's
    duals."""
    low, high = system.bound(c), system.bound(-c)
    if low is None or high is None or math.isinf(high[0]):
        return None
    lo, hi = math.ceil(low[0] - EPS), math.floor(-high[0] + EPS)
    return (lo, low[1], low[2]) if lo == hi else None


def _interval(system: System, c: np.ndarray) -> tuple[int, float]:
    low, high = system.bound(c), system.bound(-c)
    lo = 0 if low is None else max(0, math.ceil(low[0] - EPS))
    hi = math.inf if high is None or math.isinf(high[0]) else math.floor(-high[0] + EPS)
    return lo, hi


def _known(lo: int, hi: float) -> Message:
    if lo == hi:
        return Message("exactly {lo}", lo=lo)
    return Message("at least {lo}", lo=lo) if math.isinf(hi) else \
        Message("between {lo} and {hi}", lo=lo, hi=int(hi))


def _names(names: list[str], tables: list[int]) -> Message | str:
    shown = [names[i] for i in tables]
    if len(shown) <= 3:
        return ", ".join(shown)
    return Message("{names} and {more} more", names=", ".join(shown[:3]), more=len(shown) - 3)
