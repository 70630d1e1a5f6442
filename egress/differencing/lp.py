"""The linear programmes of the audit: ``A_eq z = b_eq, A_ub z <= b_ub, z >= 0`` solved by
HiGHS (through scipy), with the published cells each row came from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from egress.differencing.model import Model, Row, Unaligned

if TYPE_CHECKING:
    from scipy import sparse

EPS = 1e-6


@dataclass
class System:
    """The rows of some tables over ``size`` unknowns, with their matrices."""

    eq: list[Row]
    ub: list[Row]
    a_eq: sparse.csr_matrix | None
    a_ub: sparse.csr_matrix | None
    size: int

    @classmethod
    def of(cls, model: Model, rows: list[Row]) -> System:
        """The tables' rows over the atoms' counts ``x``."""
        eq = [r for r in rows if r.equal]
        ub = [r for r in rows if not r.equal]
        return cls(eq, ub, model.matrix(eq) if eq else None, model.matrix(ub) if ub else None,
                   model.size)

    @classmethod
    def nested(cls, model: Model, smaller: list[Row], larger: list[Row]) -> System:
        """Two populations, one inside the other, over ``z = [x, d]``: ``x`` the smaller
        population's atoms, ``d`` the larger's people not in the smaller one. The smaller
        population's tables count ``x``, the larger's ``x + d``."""
        from scipy import sparse

        inner = {id(r) for r in smaller}

        def block(rows: list[Row]) -> sparse.csr_matrix | None:
            if not rows:
                return None
            a = model.matrix(rows)
            outer = sparse.diags([0.0 if id(r) in inner else 1.0 for r in rows])
            return sparse.hstack([a, outer @ a]).tocsr()

        rows = [*smaller, *larger]
        eq = [r for r in rows if r.equal]
        ub = [r for r in rows if not r.equal]
        return cls(eq, ub, block(eq), block(ub), 2 * model.size)

    def bound(self, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
        """min c·z with the duals of the equality and inequality rows; None when infeasible."""
        res = self._solve(c)
        if res is None:
            return None
        if res.status == 3:
            return -math.inf, np.zeros(len(self.eq)), np.zeros(len(self.ub))
        eq = res.eqlin.marginals if self.eq else np.zeros(0)
        ub = res.ineqlin.marginals if self.ub else np.zeros(0)
        return res.fun, eq, ub

    def point(self, c: np.ndarray | None = None) -> np.ndarray | None:
        """A solution minimising ``c`` (any feasible one without), None when infeasible or
        unbounded."""
        res = self._solve(np.zeros(self.size) if c is None else c)
        return None if res is None or res.status == 3 else res.x

    def terms(self, eq: np.ndarray, ub: np.ndarray) -> list[tuple[float, str, str, int]]:
        """The published cells, with their coefficients, whose combination gives a bound."""
        rows = [*self.eq, *self.ub]
        duals = np.concatenate([eq, ub])
        terms = [(round(float(k), 6), r.table, r.cell, r.count)
                 for k, r in zip(duals, rows, strict=True) if abs(k) > EPS]
        return sorted(terms, key=lambda t: -t[0])

    def _solve(self, c: np.ndarray) -> Any:
        from scipy.optimize import linprog  # 0.2 s to import: only a group of tables gets here

        res = linprog(c, A_ub=self.a_ub, b_ub=[r.count for r in self.ub] or None,
                      A_eq=self.a_eq, b_eq=[r.count for r in self.eq] or None,
                      bounds=(0, None), method="highs")
        if res.status == 2:
            return None
        if res.status not in (0, 3):
            raise Unaligned(f"the linear programme did not solve: {res.message}")
        return res


def culprits(model: Model, tables: list[int]) -> list[int] | None:
    """Tables (of ``tables``, the first kept whole) whose rows must give way for the others
    to be feasible: one programme, each other row allowed a slack at a cost, the least
    slack found. Not always the fewest tables, but a start: None when the first table is
    infeasible on its own."""
    from scipy import sparse

    rows = [(i, r) for i in tables for r in model.rows[i]]
    soft = [k for k, (i, _) in enumerate(rows) if i != tables[0]]
    system = System.of(model, [r for _, r in rows])
    order = [k for k, (_, r) in enumerate(rows) if r.equal] + \
            [k for k, (_, r) in enumerate(rows) if not r.equal]
    position = {k: n for n, k in enumerate(order)}
    slack = sparse.csr_matrix((np.ones(len(soft)), ([position[k] for k in soft],
                                                   range(len(soft)))),
                              shape=(len(rows), len(soft)))
    n_eq = len(system.eq)
    a_eq = (sparse.hstack([system.a_eq, slack[:n_eq], -slack[:n_eq]]).tocsr()
            if system.eq else None)
    a_ub = (sparse.hstack([system.a_ub, slack[n_eq:] * 0, -slack[n_eq:]]).tocsr()
            if system.ub else None)
    elastic = System(system.eq, system.ub, a_eq, a_ub, model.size + 2 * len(soft))
    cost = np.concatenate([np.zeros(model.size), np.ones(2 * len(soft))])
    found = elastic.point(cost)
    if found is None:
        return None
    used = found[model.size:model.size + len(soft)] + found[model.size + len(soft):]
    return sorted({rows[k][0] for k, v in zip(soft, used, strict=True) if v > EPS})


def feasible(model: Model, tables: list[int]) -> bool:
    """Can the tables ``tables`` (indices into ``model.rows``) count the same people?"""
    system = System.of(model, [r for i in tables for r in model.rows[i]])
    return system.point() is not None
