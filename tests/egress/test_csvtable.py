import hashlib
import io

import numpy as np
import pandas as pd
import pytest

from egress.csvtable import check_csv_table, classify
from egress.sdc.params import load_rules

SNDS = load_rules("snds")


def frame(text):
    return pd.read_csv(io.StringIO(text), na_values=["[REDACTED]"])


def rules_flagged(assessment):
    return {(tuple(f["row"]), tuple(f["column"]), f["rule"]) for f in assessment.flags}


def test_long_table_count_column_is_found_and_checked():
    f = frame("cluster,region,n\n1,N,25\n2,N,3\n1,S,0\n2,S,40\n")
    assert classify(f).counts == ["n"]
    a, _ = check_csv_table(f, SNDS)
    assert rules_flagged(a) == {(("2", "N"), ("n",), "threshold"),
                                (("1", "S"), ("n",), "zeros")}


def test_wide_table_with_totals_flags_margins_of_a_redacted_cell():
    f = frame("region,F,M,Total\nN,25,[REDACTED],28\nS,30,40,70\nTotal,55,43,98\n")
    a, _ = check_csv_table(f, SNDS)
    assert rules_flagged(a) == {(("N",), ("Total",), "secondary"),
                                (("Total",), ("M",), "secondary")}


def test_rounding_required_by_the_pack():
    a, _ = check_csv_table(frame("g,n\na,10\nb,12\nc,5\n"), load_rules("opensafely"))
    assert rules_flagged(a) == {(("b",), ("n",), "rounding"), (("c",), ("n",), "threshold")}


def test_means_without_evidence_go_to_review():
    a, _ = check_csv_table(frame("g,n,mean_cost\na,30,12.5\nb,40,13.1\n"), SNDS)
    assert a.flags == [] and any("mean_cost" in n for n in a.notes)


def row_level_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "pseudo": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)],
        "sex": rng.choice(["F", "M"], n), "age": rng.integers(18, 90, n),
        "n": np.ones(n, dtype=int)})


@pytest.mark.parametrize(("drop", "expected"), [
    ([], "named like an identifier"),
    (["pseudo"], "one person per row"),
])
def test_row_level_data_is_recognised(drop, expected):
    a, _ = check_csv_table(row_level_frame().drop(columns=drop), SNDS)
    reasons = [f["reason"] for f in a.flags if f["rule"] == "row-level"]
    assert any(expected in r for r in reasons), reasons


@pytest.mark.parametrize(("column", "values", "kind"), [
    ("ref", ["1850775123456", "2990175987654", "1650112345678"], "NIR"),
    ("ref", ["9f86d081884c7d659a2feaa0c55ad015", "60303ae22b998861bce3b28f33eec1be",
             "fd61a03af4f77d870fc21e05e7e80678"], "hex digest"),
    ("key", ["dGhpc2lzYXRva2VuMTIzNDU2", "YW5vdGhlcnRva2VuOTg3NjU0", "dGhpcmR0b2tlbjU1NTU1NQ"],
     "base64 token"),
])
def test_identifier_like_values(column, values, kind):
    a, _ = check_csv_table(pd.DataFrame({column: values, "n": [20, 30, 40]}), SNDS)
    assert any(kind in f["reason"] for f in a.flags), a.flags


def test_row_count_near_the_cohort_size():
    f = pd.DataFrame({"g": [f"c{i}" for i in range(60)], "n": [20] * 60})
    a, _ = check_csv_table(f, SNDS, cohort_size=100)
    assert any("cohort of 100" in fl["reason"] for fl in a.flags)
    a, _ = check_csv_table(f, SNDS, cohort_size=10_000)
    assert a.flags == []


def test_a_real_table_is_not_row_level():
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"region": np.repeat([f"R{i:02d}" for i in range(50)], 4),
                      "age": np.tile(["18-39", "40-64", "65-79", "80+"], 50),
                      "n": rng.integers(11, 500, 200)})
    a, _ = check_csv_table(f, SNDS)
    assert a.flags == []
