"""Disclosure rules as pure functions: numpy arrays of cell evidence in, boolean masks out.

Every function is shape-agnostic (one entry per cell, any shape) unless it says otherwise,
and flags a cell with ``True``. Magnitude rules take *absolute* contributions: a negative
contribution discloses as much as a positive one of the same size, so dominance is judged on
``|x|`` (ACRO instead refuses to judge and asks for review when negatives are present).
"""

from __future__ import annotations

import numpy as np

from egress.sdc.params import Rounding


def threshold_cells(count: np.ndarray, threshold: int, zeros_disclosive: bool) -> np.ndarray:
    """Cells with fewer than ``threshold`` contributors; empty cells only if zeros disclose."""
    count = np.asarray(count)
    low = count < threshold
    return low if zeros_disclosive else low & (count > 0)


def zero_cells(count: np.ndarray, zeros_disclosive: bool) -> np.ndarray:
    """Empty cells, when the pack deems zeros disclosive (class disclosure)."""
    count = np.asarray(count)
    return (count == 0) if zeros_disclosive else np.zeros(count.shape, dtype=bool)


def nk_dominated(top: np.ndarray, total: np.ndarray, n: int, k: float) -> np.ndarray:
    """(n, k) rule: the ``n`` largest contributions reach the fraction ``k`` of the total.

    ``top[..., j]`` is the (j+1)-th largest absolute contribution (0 when fewer exist) and
    ``total`` the sum of absolute contributions. A cell whose total is 0 has nothing to
    dominate and is not flagged (empty cells are the threshold rule's business).
    """
    total = np.asarray(total, dtype=float)
    top_sum = np.asarray(top, dtype=float)[..., :n].sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = top_sum / total
    return (total > 0) & (share >= k)


def p_percent_disclosive(top: np.ndarray, total: np.ndarray, p: float) -> np.ndarray:
    """p% rule: the second largest contributor can estimate the largest to within ``p``.

    Flags a cell when ``total - x1 - x2 < p * x1``, x1 ≥ x2 the two largest absolute
    contributions; cells whose largest contribution is 0 disclose nothing and pass.
    """
    top = np.asarray(top, dtype=float)
    x1 = top[..., 0]
    x2 = top[..., 1] if top.shape[-1] > 1 else np.zeros_like(x1)
    rest = np.asarray(total, dtype=float) - x1 - x2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = rest / x1
    return (x1 > 0) & (ratio < p)


def single_unit_cells(count: np.ndarray) -> np.ndarray:
    """Non-empty cells of a statistic that is one unit's own value (min, max, median, ...)."""
    return np.asarray(count) > 0


def dof_too_low(dof: float, min_dof: int) -> bool:
    """A fitted model with fewer residual degrees of freedom than ``min_dof``."""
    return bool(dof < min_dof)


def not_rounded(values: np.ndarray, rounding: Rounding) -> np.ndarray:
    """Counts that are not on the pack's rounding lattice (zero is always allowed)."""
    values = np.asarray(values)
    finite = np.isfinite(values) & (values != 0)
    shifted = values + rounding.base // 2 if rounding.method == "midpoint" else values
    with np.errstate(invalid="ignore"):
        off = np.mod(shifted, rounding.base) != 0
    return finite & off


def secondary_margins(flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Margins that give away a flagged cell of a 2-D table.

    ``flagged`` is the (rows, columns) mask of primary flags on the interior cells. A row
    total recovers a suppressed cell when that row has exactly one flagged cell (total minus
    the published others); likewise for columns. Returns (row_margins, column_margins).
    """
    flagged = np.asarray(flagged, dtype=bool)
    if flagged.ndim != 2:
        raise ValueError(f"secondary_margins needs a 2-D mask, got {flagged.ndim}-D")
    return flagged.sum(axis=1) == 1, flagged.sum(axis=0) == 1
