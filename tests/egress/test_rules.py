"""The rules on cells whose disclosiveness the SDC literature settles (Hundepool et al.,
Statistical Disclosure Control, 2012, ch. 4 and 5)."""

import numpy as np
import pytest

from egress.sdc import rules as r
from egress.sdc.params import Rounding


def test_threshold_flags_cells_under_the_minimum_not_at_it():
    count = np.array([[0, 10, 11], [12, 3, 100]])
    assert r.threshold_cells(count, 11, zeros_disclosive=True).tolist() == [
        [True, True, False], [False, True, False]]


def test_empty_cells_escape_the_threshold_only_when_zeros_are_not_disclosive():
    count = np.array([0, 5, 20])
    assert r.threshold_cells(count, 8, zeros_disclosive=False).tolist() == [False, True, False]
    assert r.zero_cells(count, zeros_disclosive=False).tolist() == [False, False, False]
    assert r.zero_cells(count, zeros_disclosive=True).tolist() == [True, False, False]


def _top(cells):
    """(top, total) evidence from lists of contributions."""
    top = np.array([sorted(map(abs, c), reverse=True)[:2] + [0] * (2 - min(len(c), 2))
                    for c in cells], dtype=float)
    total = np.array([sum(map(abs, c)) for c in cells], dtype=float)
    return top, total


def test_nk_dominance_one_large_contributor():
    # one company of 1000 among nine of 10: the largest makes 92% of the total
    top, total = _top([[1000] + [10] * 9, [100] * 10])
    assert r.nk_dominated(top, total, n=1, k=0.9).tolist() == [True, False]


def test_nk_dominance_two_large_contributors():
    # two of 500 and eight of 10: each alone is 46%, together 93% (> k = 90%)
    top, total = _top([[500, 500] + [10] * 8])
    assert not r.nk_dominated(top, total, n=1, k=0.9)[0]
    assert r.nk_dominated(top, total, n=2, k=0.9)[0]


def test_p_percent_rule():
    # x1 = 100, x2 = 50, others sum to 5 < 10% of 100: the second can estimate the first
    # to within 5%; with others summing to 20 the estimate is off by 20% and the cell is safe
    top, total = _top([[100, 50, 2, 3], [100, 50, 10, 10]])
    assert r.p_percent_disclosive(top, total, p=0.10).tolist() == [True, False]


def test_dominance_uses_absolute_values_for_negative_contributions():
    # a loss of -1000 dominates a cell as much as a gain of 1000 would
    top, total = _top([[-1000, 5, 5, 5, 5]])
    assert r.nk_dominated(top, total, n=1, k=0.9)[0]
    assert r.p_percent_disclosive(top, total, p=0.1)[0]


def test_empty_or_all_zero_cells_are_not_dominated():
    top, total = _top([[], [0, 0, 0]])
    assert not r.nk_dominated(top, total, 2, 0.9).any()
    assert not r.p_percent_disclosive(top, total, 0.1).any()


def test_secondary_margins_flag_rows_and_columns_with_exactly_one_flagged_cell():
    flagged = np.array([[True, False, False],
                        [True, True, False],
                        [False, False, False]])
    rows, cols = r.secondary_margins(flagged)
    assert rows.tolist() == [True, False, False]  # row 2 has two: its total hides both
    assert cols.tolist() == [False, True, False]  # column 0 has two flagged cells


def test_secondary_margins_need_two_dimensions():
    with pytest.raises(ValueError, match="2-D"):
        r.secondary_margins(np.array([True]))


def test_degrees_of_freedom():
    assert r.dof_too_low(9, 10) and not r.dof_too_low(10, 10)


@pytest.mark.parametrize(("method", "base", "ok", "bad"), [
    ("nearest", 5, [0, 5, 10, 35], [3, 7, 11]),
    ("midpoint", 6, [0, 3, 9, 15], [6, 7, 12]),
])
def test_rounding_lattice(method, base, ok, bad):
    rounding = Rounding(base, method)
    assert not r.not_rounded(np.array(ok), rounding).any()
    assert r.not_rounded(np.array(bad), rounding).all()
