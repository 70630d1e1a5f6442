"""The differencing audit on a corpus of table pairs and triples, and two properties."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egress import tables
from egress.differencing import CountTable, Disclosure, Ledger, check_differencing
from egress.errors import InputError
from egress.replay.conditions import opaque


def long(name, dim, counts, measure="n", **kw):
    """A long table: one dimension and a count column named ``measure``."""
    return CountTable(name, [dim, "column"], {(k, measure): v for k, v in counts.items()}, **kw)


def grid(name, dims, cells, **kw):
    return CountTable(name, dims, cells, **kw)


def flagged(new, released=(), others=(), threshold=11):
    found = check_differencing(new, Ledger.from_json(Ledger(list(released)).to_json()),
                               threshold, list(others))
    return [(f.cell, f.lo, f.hi, f.severity) if isinstance(f, Disclosure) else ("?", f.reason)
            for f in found]


AGES = {"0-17": 30, "18-64": 120, "65+": 44}
DX = opaque('dx != "x"')  # a replayed filter that does not translate into conditions
# by region and age bands that cover every age: a table without age counts the same people
AGED = {("N", "0-17"): 21, ("N", "18+"): 22, ("S", "0-17"): 30, ("S", "18+"): 25}
# name: (new table, released tables, expected findings as (cell, lo, hi, severity))
CORPUS = {
    "regrouped age bands isolate 60-64": (
        long("b.csv", "age", {"0-17": 30, "18-59": 110, "60+": 54}),
        [long("a.csv", "age", AGES)], [("age=[60, 65)", 10, 10, "fail")]),
    "regrouped bands, small group of 4": (
        long("b.csv", "age", {"0-17": 30, "18-59": 116, "60+": 48}),
        [long("a.csv", "age", AGES)], [("age=[60, 65)", 4, 4, "fail")]),
    "regrouped bands written in French": (
        long("b.csv", "tranche d'age", {"0 à 17 ans": 30, "18 à 59 ans": 116,
                                        "60 ans et plus": 48}),
        [long("a.csv", "tranche d'age", {"0-17": 30, "18-64": 120, "65+": 44})],
        [("tranche d'age=[60, 65)", 4, 4, "fail")]),
    "regrouped bands, large difference passes": (
        long("b.csv", "age", {"0-17": 30, "18-44": 60, "45+": 104}),
        [long("a.csv", "age", AGES)], []),
    "mixed signs: one band gains 5 that the next loses": (
        long("b.csv", "age", {"0-19": 35, "20-64": 115, "65+": 44}),
        [long("a.csv", "age", AGES)], [("age=[18, 20)", 5, 5, "fail")]),
    "lone total against a released breakdown": (
        long("total.csv", "region", {"Total": 153}),
        [long("regions.csv", "region", {"N": 50, "S": 60, "W": 40})],
        [("region=(not shown)", 3, 3, "fail")]),
    "lone total, French synonym": (
        long("total.csv", "region", {"Total général": 153}),
        [long("regions.csv", "region", {"N": 50, "S": 60, "W": 40})],
        [("region=(not shown)", 3, 3, "fail")]),
    "renamed count column": (
        long("b.csv", "age", {"0-17": 30, "18-59": 116, "60+": 48}, measure="patients"),
        [long("a.csv", "age", AGES, measure="effectif")], [("age=[60, 65)", 4, 4, "fail")]),
    "wide against long": (
        grid("wide.csv", ["sex", "column"], {("F", "0-17"): 14, ("F", "18-59"): 60,
                                             ("F", "60+"): 24, ("M", "0-17"): 16,
                                             ("M", "18-59"): 56, ("M", "60+"): 24}),
        [grid("long.csv", ["sex", "age"], {("F", "0-17"): 14, ("F", "18-64"): 62,
                                           ("F", "65+"): 22, ("M", "0-17"): 16,
                                           ("M", "18-64"): 58, ("M", "65+"): 22})],
        [("age=[60, 65), sex=F", 2, 2, "fail"), ("age=[60, 65), sex=M", 2, 2, "fail")]),
    "stacked blocks in one file": (
        grid("stacked.csv", ["population", "sex"], {("all", "M"): 100, ("all", "F"): 120,
                                                     ("under 90", "M"): 97,
                                                     ("under 90", "F"): 118}),
        [], [("population=[90, ∞), sex=F", 2, 2, "fail"),
             ("population=[90, ∞), sex=M", 3, 3, "fail")]),
    "filtered subset against the whole population": (
        long("under90.csv", "sex", {"M": 97, "F": 118}, filters={"age": "<90"}),
        [long("all.csv", "sex", {"M": 100, "F": 120})],
        [("age=[90, ∞), sex=F", 2, 2, "fail"), ("age=[90, ∞), sex=M", 3, 3, "fail")]),
    "disjoint filtered populations": (
        long("old.csv", "sex", {"M": 30, "F": 40}, filters={"age": "90+"}),
        [long("young.csv", "sex", {"M": 97, "F": 118}, filters={"age": "<90"})], []),
    "two diseases by sex are different populations": (
        long("asthma.csv", "sex", {"M": 23, "F": 45}, measure="asthma"),
        [long("diabetes.csv", "sex", {"M": 30, "F": 52}, measure="diabetes")], []),
    "different datasets are not combined": (
        long("pmsi.csv", "sex", {"M": 97, "F": 118}, population="pmsi"),
        [long("dcir.csv", "sex", {"M": 100, "F": 120}, population="dcir")], []),
    "a table of unknown dataset may be any dataset's": (
        long("b.csv", "age", {"0-17": 30, "18-59": 116, "60+": 48}),
        [long("a.csv", "age", AGES, population="extract table patients")],
        [("age=[60, 65)", 4, 4, "fail")]),
    "tables of two extract tables are not combined": (
        long("stays.csv", "age", {"0-17": 30, "18-59": 116, "60+": 48},
             population="extract table stays"),
        [long("patients.csv", "age", AGES, population="extract table patients")], []),
    "unrelated populations, differences of both signs": (
        long("women.csv", "region", {"N": 40, "S": 55}),
        [long("old.csv", "region", {"N": 45, "S": 50})], []),
    "unrecorded nested filter goes to a person": (
        long("over19.csv", "region", {"N": 40, "S": 55}),
        [long("adults.csv", "region", {"N": 41, "S": 55})],
        [("region=N", 1, 1, "review")]),
    # nested populations (a filter nobody recorded) that only contradict in combination
    "nested: subset released, then the whole population by another breakdown": (
        grid("all.csv", ["region", "age"], AGED),
        [long("adults.csv", "region", {"N": 41, "S": 55})], [("region=N", 2, 2, "review")]),
    "nested: the whole population released, then a subset": (
        long("adults.csv", "region", {"N": 41, "S": 55}),
        [grid("all.csv", ["region", "age"], AGED)], [("region=N", 2, 2, "review")]),
    "nested: small in two cells": (
        long("adults.csv", "region", {"N": 40, "S": 52}),
        [grid("all.csv", ["region", "age"], AGED)],
        [("region=N", 3, 3, "review"), ("region=S", 3, 3, "review")]),
    "nested: only how many people were left out in all is determined": (
        long("b.csv", "age", {"0-39": 40, "40+": 52}),
        [long("a.csv", "age", {"0-17": 43, "18+": 55})], [("all", 6, 6, "review")]),
    "nested: a difference at the threshold is not flagged": (
        grid("all.csv", ["region", "age"], AGED),
        [long("adults.csv", "region", {"N": 32, "S": 55})], []),
    "nested: a difference the tables do not determine is not flagged": (
        long("b.csv", "age", {"0-59": 150, "60+": 50}),
        [long("a.csv", "age", {"0-17": 30, "18-64": 110, "65+": 40})], []),
    "nested, recorded filters apart: a rare disease beside everyone": (
        long("rare.csv", "region", {"N": 3, "S": 5}),
        [grid("all.csv", ["region", "age"], AGED)], []),
    "different recorded filters are not nested: women beside an opaque 'not women'": (
        long("women.csv", "region", {"N": 40, "S": 55}, filters={"sex": "F"}),
        [long("men.csv", "region", {"N": 45, "S": 58}, filters=opaque('sex != "F"'))], []),
    "the same opaque filter twice is one population": (
        long("b.csv", "age", {"0-17": 30, "18-59": 116, "60+": 48},
             filters=DX),
        [long("a.csv", "age", AGES, filters=DX)],
        [(f"age=[60, 65), {next(iter(DX))}=kept", 4, 4, "fail")]),
    "triple: two breakdowns and a total": (
        long("c.csv", "age", {"65-74": 40}),
        [long("a.csv", "age", {"0-17": 30, "18-64": 120}), long("t.csv", "age", {"Total": 197})],
        [("age=[75, ∞)", 7, 7, "fail")]),
    "a cell already revealed by released tables is not this table's doing": (
        long("c.csv", "region", {"N": 50, "S": 60}),
        [long("regions.csv", "region", {"N": 50, "S": 60, "W": 40}),
         long("total.csv", "region", {"Total": 153})], []),
    "unrelated dimension shared": (
        long("b.csv", "sex", {"M": 100, "F": 120}),
        [grid("a.csv", ["sex", "region"], {("M", "N"): 50, ("M", "S"): 50, ("F", "N"): 60,
                                           ("F", "S"): 60})], []),
}


@pytest.mark.parametrize("case", list(CORPUS))
def test_corpus(case):
    new, released, expected = CORPUS[case]
    assert sorted(flagged(new, released)) == sorted(expected)


def test_categories_that_cannot_be_aligned_go_to_a_person():
    found = flagged(long("b.csv", "age", {"0-17": 30, "18+": 164}),
                    [long("a.csv", "age", {"young": 30, "old": 164})])
    assert found[0][0] == "?" and "mixes numeric bands" in found[0][1]


def test_a_table_whose_own_cells_contradict_each_other_goes_to_a_person():
    found = flagged(grid("stacked.csv", ["population", "sex"],
                         {("all", "M"): 100, ("all", "F"): 120, ("under 90", "M"): 103,
                          ("under 90", "F"): 118}))
    assert found[0][0] == "?" and "contradict each other" in found[0][1]


def test_a_nested_flag_spells_out_the_hypothesis_and_the_arithmetic():
    new, released, _ = CORPUS["nested: subset released, then the whole population by another "
                              "breakdown"]
    [found] = check_differencing(new, Ledger(released), 11)
    flag = found.flag()
    assert flag["severity"] == "review"
    assert "if the population counted by all.csv contains the one counted by adults.csv" in (
        flag["reason"])
    assert flag["evidence"]["interval"] == [2, 2] and flag["evidence"]["smaller"] == [41, 41]
    assert {(t["coefficient"], t["table"], t["count"]) for t in flag["evidence"]["terms"]} == {
        (1.0, "all.csv", 21), (1.0, "all.csv", 22), (-1.0, "adults.csv", 41)}


def test_nested_populations_out_of_time_go_to_a_person(monkeypatch):
    from egress.differencing import audit

    monkeypatch.setattr(audit, "BUDGET_SECONDS", 0.0)
    new, released, _ = CORPUS["nested: the whole population released, then a subset"]
    found = flagged(new, released)
    assert found[-1][0] == "?" and "time budget" in found[-1][1]


def test_the_flag_shows_the_arithmetic_and_the_tables():
    new, released, _ = CORPUS["regrouped bands, small group of 4"]
    [found] = check_differencing(new, Ledger(released), 11)
    flag = found.flag()
    assert flag["evidence"]["tables"] == ["a.csv", "b.csv"]
    assert flag["evidence"]["interval"] == [4, 4]
    assert "4 = a.csv[age=18-64] (120) - b.csv[age=18-59] (116)" in flag["reason"]


def test_tables_of_the_same_request_count(cohort):
    adults = counts("adults.csv", cohort[cohort.age >= 18], "sex", "region")
    over_19 = counts("over19.csv", cohort[cohort.age >= 19], "sex", "region")
    found = check_differencing(over_19, None, 11, [adults])
    assert [(f.cell, f.lo, f.severity) for f in found] == [
        ("sex=F, region=E", 1, "review")]
    assert "adults.csv" in found[0].flag()["reason"]


@pytest.fixture
def cohort():
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "region": rng.choice(list("NSEW"), n),
                       "age": rng.integers(19, 90, n)})
    df.loc[17, ["sex", "region", "age"]] = ["F", "E", 18]  # the only 18-year-old
    return df


def counts(name, df, *dims, **kw):
    return CountTable.from_evidence(name, tables.crosstab(df, dims[0], list(dims[1:])).evidence,
                                    **kw)


def test_analysis_library_tables_with_recorded_filters(cohort):
    adults = counts("adults.csv", cohort, "sex", "region")
    over_19 = counts("over19.csv", cohort[cohort.age >= 19], "sex", "region",
                     filters={"age": ">=19"})
    found = check_differencing(over_19, Ledger([adults]), 11)
    assert ("age=[-∞, 19), region=E, sex=F", 1, "fail") in [
        (f.cell, f.lo, f.severity) for f in found]


def test_ledger_keeps_population_and_filters():
    table = long("a.csv", "sex", {"M": 3}, population="dcir", filters={"age": "<90"})
    [back] = Ledger.from_json(Ledger([table]).to_json()).tables
    assert (back.population, back.filters, back.cells) == ("dcir", {"age": "<90"},
                                                           table.cells)


def test_ledger_rejects_malformed_json():
    with pytest.raises(InputError):
        Ledger.from_json({"tables": [{"name": "t", "dims": ["a"], "cells": [["x"]]}]})
    with pytest.raises(InputError):
        Ledger.from_json([])
    with pytest.raises(InputError):
        Ledger.from_json({"tables": [{"name": "t", "dims": [], "cells": [], "filters": [1]}]})


def bands(ages, cut):
    return {f"0-{cut - 1}": int((ages < cut).sum()), f"{cut}+": int((ages >= cut).sum())}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(20, 80), st.integers(1, 10), st.integers(1, 10))
def test_two_cuts_that_isolate_a_small_band_are_always_caught(seed, a, width, small):
    """Microdata where exactly ``small`` people are aged in [a, a+width): cutting at a and at
    a+width determines them, whatever the other people and the sex breakdown."""
    rng = np.random.default_rng(seed)
    others = rng.integers(0, 100, 400)
    others = others[(others < a) | (others >= a + width)]
    ages = np.concatenate([others, rng.integers(a, a + width, small)])
    sex = rng.choice(["F", "M"], len(ages))
    first = grid("first.csv", ["age", "sex"], {(k, s): int(((ages < a) if k.startswith("0-")
                                                           else (ages >= a))[sex == s].sum())
                                              for k in bands(ages, a) for s in "FM"})
    second = long("second.csv", "age", bands(ages, a + width))
    found = check_differencing(second, Ledger([first]), 11)
    assert (f"age=[{a}, {a + width})", small, small) in [(f.cell, f.lo, f.hi) for f in found]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 80))
def test_disjoint_populations_are_never_flagged(seed, cut):
    rng = np.random.default_rng(seed)
    ages = rng.integers(0, 100, 300)
    region = rng.choice(list("NSEW"), 300)
    young = {r: int(((ages < cut) & (region == r)).sum()) for r in "NSEW"}
    old = {r: int(((ages >= cut) & (region == r)).sum()) for r in "NSEW"}
    released = long("young.csv", "region", young, filters={"age": f"<{cut}"})
    new = long("old.csv", "region", old, filters={"age": f">={cut}"})
    assert check_differencing(new, Ledger([released]), 11) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_a_small_determined_difference_of_nested_populations_is_always_caught(seed,
                                                                              subset_first):
    """Table A counts people P, table B the same cells of a random part Q of P (a filter
    nobody recorded): every cell where 1 to threshold - 1 people of P are not in Q is
    flagged for a person, and no other, whichever table was released first."""
    rng = np.random.default_rng(seed)
    region = rng.choice(list("NSEW"), 800)
    band = rng.choice(["0-17", "18-64", "65+"], 800)
    everyone = {(r, b): int(((region == r) & (band == b)).sum()) for r in "NSEW"
                for b in ("0-17", "18-64", "65+")}
    left_out = {k: min(n, int(rng.choice([0, rng.integers(1, 11), rng.integers(11, 40)])))
                for k, n in everyone.items()}
    part = {k: n - left_out[k] for k, n in everyone.items()}
    whole = grid("whole.csv", ["region", "age"], everyone)
    subset = grid("subset.csv", ["region", "age"], part)
    new, released = (whole, subset) if subset_first else (subset, whole)
    found = check_differencing(new, Ledger([released]), 11)
    small = {f"region={r}, age={b}": k for (r, b), k in left_out.items() if 1 <= k < 11}
    assert {f.cell: f.lo for f in found} == small
    assert all(f.severity == "review" and f.hi == f.lo for f in found)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 80), st.booleans(), st.booleans())
def test_disjoint_populations_are_never_flagged_however_their_filters_are_recorded(
        seed, cut, women_opaque, men_opaque):
    """Women and men counted apart, each filter recorded as a condition (``sex: F``) or,
    when the library's filter does not translate, as one opaque condition."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(0, 100, 2000)
    region = rng.choice(list("NSEW"), 2000)
    sex = rng.choice(["F", "M"], 2000)
    bands_ = {"young": ages < cut, "old": ages >= cut}
    labels = {"young": f"0-{cut - 1}", "old": f"{cut}+"}

    def table(name, who, filters):
        cells = {(r, labels[b]): int(((region == r) & inside & (sex == who)).sum())
                 for r in "NSEW" for b, inside in bands_.items()}
        return grid(name, ["region", "age"], cells, filters=filters)

    women = table("women.csv", "F", opaque('sex != "M"') if women_opaque else {"sex": "F"})
    men = table("men.csv", "M", opaque('sex != "F"') if men_opaque else {"sex": "M"})
    assert check_differencing(men, Ledger([women]), 11) == []
    assert check_differencing(women, Ledger([men]), 11) == []
