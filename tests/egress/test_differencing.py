import numpy as np
import pandas as pd
import pytest

from egress import tables
from egress.differencing import CountTable, Ledger, check_differencing, implied_cells
from egress.errors import InputError


@pytest.fixture
def cohort():
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "region": rng.choice(list("NSEW"), n),
                       "age": rng.integers(19, 90, n)})
    df.loc[17, ["sex", "region", "age"]] = ["F", "E", 18]  # the only 18-year-old
    return df


def counts(name, df, *dims):
    return CountTable.from_evidence(name, tables.crosstab(df, dims[0], list(dims[1:])).evidence)


def test_age_18_then_19_isolates_the_one_18_year_old(cohort):
    adults = counts("adults.csv", cohort[cohort.age >= 18], "sex", "region")
    over_19 = counts("over19.csv", cohort[cohort.age >= 19], "sex", "region")
    ledger = Ledger.from_json(Ledger([adults]).to_json())  # as the workflow persists it
    found = check_differencing(over_19, ledger, threshold=11)
    assert [(c.other, c.labels, c.difference) for c in found] == [
        ("adults.csv", ("sex=F", "region=E"), 1)]
    assert found[0].flag()["rule"] == "differencing"


def test_a_table_with_an_extra_dimension_is_summed_down_before_comparing(cohort):
    released = counts("by_sex.csv", cohort[cohort.age >= 18], "sex", "region")
    new = counts("by_sex_age.csv", cohort[cohort.age >= 19].assign(
        old=lambda d: np.where(d.age >= 65, "65+", "<65")), "sex", "region", "old")
    assert [c.labels for c in implied_cells(new, released, 11)] == [("sex=F", "region=E")]


def test_unrelated_populations_are_not_flagged(cohort):
    women = counts("w.csv", cohort[cohort.sex == "F"], "region", "sex")
    old = counts("o.csv", cohort[cohort.age >= 65], "region", "sex")
    assert implied_cells(old, women, 11) == []  # differences of both signs: not nested
    assert implied_cells(women, women, 11) == []  # identical: nothing new


def test_tables_without_shared_dimensions_are_not_compared(cohort):
    assert implied_cells(counts("a", cohort, "sex", "region"),
                         counts("b", cohort.assign(x="1"), "x", "x"), 11) == []


def test_ledger_rejects_malformed_json():
    with pytest.raises(InputError):
        Ledger.from_json({"tables": [{"name": "t", "dims": ["a"], "cells": [["x"]]}]})
    with pytest.raises(InputError):
        Ledger.from_json([])
