"""spe.data.decimal: decimal text of one width <-> 64-bit integers, exactly."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spe.data import decimal


@given(digits=st.integers(1, 19), data=st.data())
def test_text_of_one_width_comes_back_exactly_leading_zeros_and_nulls_included(digits, data):
    values = data.draw(st.lists(st.one_of(st.none(), st.text("0123456789", min_size=digits,
                                                             max_size=digits)), max_size=30))
    text = pa.array(values, pa.string())
    if all(v is None for v in values):
        assert decimal.width(text) is None
        return
    assert decimal.width(text) == digits
    numbers = decimal.integers(text)
    assert numbers.to_pylist() == [None if v is None else int(v) for v in values]
    assert decimal.text(numbers, digits).to_pylist() == values
    assert decimal.text(numbers, digits, pa.large_string()).to_pylist() == values
    assert decimal.text(numbers.slice(1), digits).to_pylist() == values[1:]


@pytest.mark.parametrize("values", [
    ["12", "123"],  # two widths: "012" and "12" would be one integer
    ["12", "1a"], ["+1", "12"], [" 1", "12"], ["١٢", "12"],  # only ASCII digits
    ["1" * 20],  # past 64 bits
    ["", ""],
])
def test_anything_else_is_not_decimal_text_of_one_width(values):
    assert decimal.width(pa.array(values)) is None


def test_fits_says_which_values_are_of_the_digits():
    assert decimal.fits(pa.array(["12", "1a", "123", None, "07"]), 2).to_pylist() == \
        [True, False, False, None, True]
