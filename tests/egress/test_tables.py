import json

import numpy as np
import pandas as pd
import pytest

from egress import tables
from egress.errors import InputError
from egress.record import validate


@pytest.fixture
def df():
    rng = np.random.default_rng(7)
    n = 2000
    return pd.DataFrame({"region": rng.choice(list("NSEW"), n),
                         "sex": rng.choice(["F", "M"], n),
                         "age": rng.choice(["18-39", "40-64", "65+"], n),
                         "cost": rng.gamma(2.0, 50.0, n)})


@pytest.mark.parametrize("aggfunc", ["count", "sum", "mean", "std", "median", "min", "max"])
@pytest.mark.parametrize("margins", [False, True])
def test_table_is_what_pandas_gives(df, aggfunc, margins):
    values = None if aggfunc == "count" else "cost"
    res = tables.crosstab(df, ["region", "age"], "sex", values=values, aggfunc=aggfunc,
                          margins=margins)
    expected = pd.crosstab([df.region, df.age], df.sex,
                           values=None if values is None else df.cost,
                           aggfunc=None if values is None else aggfunc, margins=margins,
                           dropna=False)
    pd.testing.assert_frame_equal(res.table, expected, check_dtype=False)


def test_unobserved_combinations_are_empty_cells(df):
    small = df[~((df.region == "N") & (df.sex == "F"))]
    res = tables.crosstab(small, "region", "sex")
    assert res.table.loc["N", "F"] == 0
    flags = {(tuple(f["row"]), tuple(f["column"]), f["rule"]) for f in res.check("snds")["flags"]}
    assert (("N",), ("F",), "zeros") in flags


def test_evidence_holds_counts_and_largest_contributions():
    df = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 2, "h": ["x"] * 6,
                       "v": [1.0, -9.0, 3.0, 2.0, 5.0, 4.0]})
    ev = tables.crosstab(df, "g", "h", values="v", aggfunc="mean").evidence
    assert ev.count.tolist() == [[4], [2]]
    assert ev.total.tolist() == [[15.0], [9.0]]
    assert ev.top.tolist() == [[[9.0, 3.0]], [[5.0, 4.0]]]
    assert ev.negatives.tolist() == [[1], [0]]


def test_mean_table_with_a_dominant_contributor_fails(df):
    df = df.copy()
    df.loc[(df.region == "S") & (df.sex == "M"), "cost"] = 1.0
    df.loc[df.index[(df.region == "S") & (df.sex == "M")][0], "cost"] = 1e6
    record = tables.crosstab(df, "region", "sex", values="cost", aggfunc="mean").check("snds")
    validate(record)
    dominated = {(tuple(f["row"]), tuple(f["column"]), f["rule"]) for f in record["flags"]}
    assert dominated == {(("S",), ("M",), "nk-dominance"), (("S",), ("M",), "p-percent")}
    assert record["outcome"] == "fail"


def test_max_table_with_a_planted_outlier_fails_even_with_large_counts(df):
    df = df.copy()
    df.loc[df.index[0], "cost"] = 99_999.0  # one person's value, printed as the max
    res = tables.crosstab(df, "region", "sex", values="cost", aggfunc="max")
    assert res.table.to_numpy().max() == 99_999.0
    record = res.check("snds")
    validate(record)
    assert record["outcome"] == "fail"
    assert {f["rule"] for f in record["flags"]} == {"single-unit"}
    assert res.check("opensafely")["outcome"] == "review"  # that pack says review


def test_margins_that_reveal_a_suppressed_cell_are_flagged():
    df = pd.DataFrame({"r": ["a"] * 40 + ["a"] * 3 + ["b"] * 50 + ["b"] * 30,
                       "c": ["x"] * 40 + ["y"] * 3 + ["x"] * 50 + ["y"] * 30})
    record = tables.crosstab(df, "r", "c", margins=True).check("snds")
    flags = {(tuple(f["row"]), tuple(f["column"]), f["rule"]) for f in record["flags"]}
    assert flags == {(("a",), ("y",), "threshold"),
                     (("a",), ("All",), "secondary"),   # 43 - 40 = 3
                     (("All",), ("y",), "secondary")}   # 33 - 30 = 3


def test_to_csv_writes_table_and_checker_only_sidecar(df, tmp_path):
    res = tables.crosstab(df, "region", "sex", values="cost", aggfunc="mean")
    side = res.to_csv(tmp_path / "cost.csv")
    assert side.name == "cost.sdc.json"
    doc = json.loads(side.read_text())
    assert doc["checker_only"] is True and "never released" in doc["notice"]
    assert set(doc["evidence"]) == {"statistic", "row_dims", "col_dims", "row_labels",
                                    "col_labels", "margins", "margins_name", "count", "total",
                                    "top", "negatives"}
    assert np.array(doc["evidence"]["top"]).shape == (4, 2, 2)  # two per cell, no more
    assert pd.read_csv(tmp_path / "cost.csv", index_col=0).shape == (4, 2)


def test_pivot_table_without_columns_has_one_column(df):
    res = tables.pivot_table(df, values="cost", index="region", aggfunc="sum")
    assert list(res.table.columns) == ["cost"]
    assert res.table.loc["N", "cost"] == pytest.approx(df.cost[df.region == "N"].sum())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"aggfunc": "mode", "values": "cost"}, "unknown aggfunc"),
    ({"aggfunc": "mean"}, "needs a values column"),
    ({"aggfunc": "mean", "values": "sex"}, "not numeric"),
    ({"aggfunc": "count", "values": "nope"}, "no such column"),
])
def test_bad_arguments_raise_input_error(df, kwargs, message):
    with pytest.raises(InputError, match=message):
        tables.crosstab(df, "region", "sex", **kwargs)
