import hashlib

import numpy as np
import pandas as pd
import pytest

from egress.csvtable import check_csv_bytes
from egress.sdc.params import load_rules

SNDS = load_rules("snds")


def check(text, rules=SNDS, **kw):
    data = text if isinstance(text, bytes) else text.encode()
    return check_csv_bytes(data, "t.csv", rules, **kw)


def rules_flagged(c):
    return {(tuple(f["row"]), tuple(f["column"]), f["rule"]) for f in c.assessment.flags}


def roles(c):
    return {col.name: col.role for col in c.interpretation.columns}


def test_long_table_count_column_is_found_and_checked():
    c = check("cluster,region,n\n1,N,25\n2,N,3\n1,S,0\n2,S,40\n")
    assert roles(c) == {"cluster": "dimension", "region": "dimension", "n": "count"}
    assert rules_flagged(c) == {(("2", "N"), ("n",), "threshold"),
                                (("1", "S"), ("n",), "zeros")}


def test_a_marker_stays_in_its_column_and_totals_recover_it():
    c = check("region,n_F,n_M,n_total\nN,25,*,28\nS,30,40,70\nTotal,55,43,98\n")
    assert roles(c)["n_M"] == "count"
    assert c.interpretation.columns[3].total_of == ["n_F", "n_M"]
    assert (("N",), ("n_M",), "secondary") in rules_flagged(c)
    assert "it is 3" in next(f["reason"] for f in c.assessment.flags if f["rule"] == "secondary")


def test_two_markers_whose_sum_is_small_fail():
    c = check("region,n_a,n_b,n_c,n_total\nN,25,*,*,32\nS,30,*,*,70\n")
    reasons = [f["reason"] for f in c.assessment.flags if f["rule"] == "secondary"]
    assert any("sum to 7" in r for r in reasons)
    assert not any(f["row"] == ["S"] for f in c.assessment.flags)


def test_a_total_found_by_arithmetic_alone():
    c = check("region,n\nN,25\nS,30\nFrance,55\n")
    assert c.interpretation.total_rows == {2: "arithmetic"}


def test_an_unlabelled_total_row_recovers_a_marker():
    c = check("region,n\nN,*\nS,40\n,47\n")
    assert c.interpretation.total_rows == {2: "blank label"}
    assert any("it is 7" in f["reason"] for f in c.assessment.flags)


def test_a_total_that_suppression_hides_is_a_doubt_not_a_pass():
    c = check("region,n_F,n_M,n\nN,*,30,33\nS,40,*,92\n")
    assert c.at_least == "review"
    assert any("may be the total" in n for n in c.assessment.notes)
    c = check("region,n_F,n_M\nN,*,30\nS,40,*\nE,80,90\n")  # a total would recover
    assert c.at_least == "pass"                                  # 40 and 60: no harm


def test_rounding_required_by_the_pack():
    c = check("g,n\na,10\nb,12\nc,5\n", load_rules("opensafely"))
    assert rules_flagged(c) == {(("b",), ("n",), "rounding"), (("c",), ("n",), "threshold")}


def test_a_marker_is_not_a_number_to_round():
    c = check("g,n\na,10\nb,*\nc,15\nd,10\n", load_rules("opensafely"))
    assert c.assessment.flags == [] and c.at_least == "pass"


def test_rounded_totals_add_up_within_the_rounding():
    c = check("g,n\na,10\nb,15\nc,15\nTotal,45\n", load_rules("opensafely"))
    assert c.assessment.flags == [] and c.at_least == "pass"  # parts rounded each
    c = check("g,n\na,10\nb,15\nc,15\nTotal,40\n", load_rules("opensafely"))
    assert c.assessment.flags == []
    c = check("g,n\na,20\nb,15\nc,15\nTotal,50\n")
    assert c.assessment.flags == [] and c.at_least == "pass"
    c = check("g,n\na,20\nb,15\nc,15\nTotal,55\n")  # snds: exact sums; 5 hidden
    assert {f["rule"] for f in c.assessment.flags} == {"secondary"}


def test_means_without_evidence_go_to_review():
    c = check("g,n,mean_cost\na,30,12.5\nb,40,13.1\n")
    assert c.assessment.flags == [] and c.at_least == "review"
    assert any("mean_cost" in n for n in c.assessment.notes)


def test_french_export():
    data = "région;effectif;part (%)\nÎle-de-France;1 234;96,9\nCorse;40;3,1\n" \
           "Total général;1 274;100,0\n".encode("cp1252")
    c = check(b"\xef\xbb\xbf" + data.decode("cp1252").encode() )
    fmt = c.interpretation.text.format
    assert (fmt.encoding, fmt.bom, fmt.delimiter, fmt.decimal) == ("utf-8", True, ";", ",")
    assert c.interpretation.values[0, 1] == 1234
    assert c.interpretation.total_rows == {2: "name"}
    assert c.at_least == "pass" and c.assessment.flags == []
    c = check(data)
    assert c.interpretation.text.format.encoding == "windows-1252" and c.at_least == "pass"


def row_level_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "pseudo": [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)],
        "sex": rng.choice(["F", "M"], n), "age": rng.integers(18, 90, n),
        "n": np.ones(n, dtype=int)})


@pytest.mark.parametrize(("drop", "expected"), [
    ([], "named like an identifier"),
    (["pseudo"], "one person per row"),
    (["pseudo", "n"], "repeat the labels"),
])
def test_row_level_data_is_recognised(drop, expected):
    c = check(row_level_frame().drop(columns=drop).to_csv(index=False))
    reasons = [f["reason"] for f in c.assessment.flags if f["rule"] == "row-level"]
    assert any(expected in r for r in reasons), reasons


@pytest.mark.parametrize(("column", "values", "kind"), [
    ("ref", ["1850775123456", "2990175987654", "1650112345678"], "NIR"),
    ("ref", ["9f86d081884c7d659a2feaa0c55ad015", "60303ae22b998861bce3b28f33eec1be",
             "fd61a03af4f77d870fc21e05e7e80678"], "hex digest"),
    ("key", ["dGhpc2lzYXRva2VuMTIzNDU2", "YW5vdGhlcnRva2VuOTg3NjU0", "dGhpcmR0b2tlbjU1NTU1NQ"],
     "base64 token"),
])
def test_identifier_like_values(column, values, kind):
    c = check(pd.DataFrame({column: values, "n": [20, 30, 40]}).to_csv(index=False))
    assert any(kind in f["reason"] for f in c.assessment.flags), c.assessment.flags


def test_row_count_near_the_cohort_size():
    text = pd.DataFrame({"g": [f"c{i}" for i in range(60)], "n": [20] * 60}).to_csv(index=False)
    c = check(text, cohort_size=100)
    assert any("cohort of 100" in fl["reason"] for fl in c.assessment.flags)
    assert check(text, cohort_size=10_000).assessment.flags == []


def test_a_real_table_is_not_row_level():
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"region": np.repeat([f"R{i:02d}" for i in range(50)], 4),
                      "age": np.tile(["18-39", "40-64", "65-79", "80+"], 50),
                      "n": rng.integers(11, 500, 200)})
    c = check(f.to_csv(index=False))
    assert c.assessment.flags == [] and c.at_least == "pass"


def test_negative_numbers_are_not_formulas_but_formulas_are_flagged():
    c = check("g,n,delta_mean\na,30,-3.5\nb,40,=1+2\n")
    assert [f["rule"] for f in c.assessment.flags] == ["formula"]
    assert c.interpretation.formulas == [(1, 2)]


@pytest.mark.parametrize(("header", "role"), [
    ("p95_cost", "statistic"), ("q1", "statistic"), ("mediane", "statistic"),
    ("Nb_décès 2019", "count"), ("nb2019", "count"), ("effectif", "count"),
    ("p2", "unknown"), ("age_0_17", "unknown"), ("cout_total", "statistic"),
    ("annee", "dimension"), ("part (%)", "unknown"),  # no count to rest on
])
def test_header_words(header, role):
    c = check(f"g,{header}\na,12\nb,40\n")
    assert roles(c)[header] == role
