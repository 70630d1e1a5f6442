"""Ingesting a real ACRO 1.0.2 output folder, made by ACRO in the test."""

import logging
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from acro import ACRO

from egress.acro import read_results
from egress.checks import check_paths
from egress.errors import AcroFormatError
from egress.record import validate

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.fixture(scope="module")
def acro_folder(tmp_path_factory):
    """outputs: 0 count table with one small row, 1 mean, 2 max, 3 OLS with dof 6."""
    work = tmp_path_factory.mktemp("acro")
    rng = np.random.default_rng(0)
    n = 1000
    df = pd.DataFrame({"a": rng.choice(list("abc"), n, p=[0.5, 0.497, 0.003]),
                       "b": rng.choice(list("xy"), n), "v": rng.gamma(2, 3, n)})
    cwd = os.getcwd()
    os.chdir(work)
    try:
        logging.getLogger("acro").setLevel(logging.WARNING)
        acro = ACRO(suppress=False)
        acro.crosstab(df.a, df.b)
        acro.crosstab(df.a, df.b, values=df.v, aggfunc="mean")
        acro.crosstab(df.a, df.b, values=df.v, aggfunc="max")
        x = sm.add_constant(df[["v"]].iloc[:8])
        acro.ols(rng.random(8), x)
        acro.finalise("out", "json")
    finally:
        os.chdir(cwd)
    return work / "out"


def by_file(records):
    return {r["file"].split("/", 1)[1]: r for r in records}


def test_every_file_gets_a_valid_record(acro_folder):
    records = check_paths([acro_folder], "snds")
    for r in records:
        validate(r)
        assert r["kind"] == "acro"
    assert "results.json" in by_file(records)
    assert not any("checksums" in r["file"] for r in records)


def test_count_table_is_rechecked_with_the_pack_and_acro_flags_are_surfaced(acro_folder):
    r = by_file(check_paths([acro_folder], "snds"))["output_0_0.csv"]
    assert r["outcome"] == "fail"
    assert {f["rule"] for f in r["flags"]} == {"threshold", "acro-status"}
    assert {tuple(f["row"]) for f in r["flags"]} == {("c",)}
    assert r["acro"]["status"] == "fail"
    assert {c["row"] for c in r["acro"]["cells"]} == {"c"}
    assert "MinimumThresholdCheck" in r["acro"]["cells"][0]["checks"]


def test_max_table_that_acro_lets_through_is_a_single_unit_statistic(acro_folder):
    r = by_file(check_paths([acro_folder], "snds"))["output_2_0.csv"]
    assert "single-unit" in {f["rule"] for f in r["flags"]}
    assert r["outcome"] == "fail"
    assert r["interpretation"]["understood"] is False  # x, y: numbers with no name


def test_regression_degrees_of_freedom(acro_folder):
    r = by_file(check_paths([acro_folder], "snds"))["output_3_0.csv"]
    assert [(f["rule"], f["reason"]) for f in r["flags"]] == [
        ("dof", "6 residual degrees of freedom, fewer than 10")]


def test_mean_table_fails_on_the_cells_acro_flagged(acro_folder):
    r = by_file(check_paths([acro_folder], "snds"))["output_1_0.csv"]
    assert r["outcome"] == "fail" and r["acro"]["type"] == "table"
    assert {(f["rule"], f["row"][0]) for f in r["flags"]} == {("acro-status", "c")}


def test_a_count_table_acro_passes_is_not_passed_on_acro_word(acro_folder, tmp_path):
    """ACRO's claims only add checks: a clean frequency table with unnamed columns is
    review, since its own cells do not say they are counts."""
    copy = shutil.copytree(acro_folder, tmp_path / "out")
    r = by_file(check_paths([copy], "snds"))["output_0_0.csv"]
    assert r["interpretation"]["columns"][0]["role"] == "dimension"


def test_a_file_changed_after_acro_is_reported(acro_folder, tmp_path):
    copy = shutil.copytree(acro_folder, tmp_path / "out")
    (copy / "output_1_0.csv").write_text("a,x,y\na,1,2\n")
    r = by_file(check_paths([copy], "snds"))["output_1_0.csv"]
    assert r["flags"][0]["rule"] == "evidence"
    assert "evidence does not match the table" in r["flags"][0]["reason"]
    assert r["outcome"] == "fail"


def test_a_regression_label_on_a_table_fails(acro_folder, tmp_path):
    copy = shutil.copytree(acro_folder, tmp_path / "out")
    (copy / "output_3_1.csv").write_text("a,n\nx,3\ny,4\n")
    r = by_file(check_paths([copy], "snds"))["output_3_1.csv"]
    assert r["outcome"] == "fail"
    assert any("no part of a model" in f["reason"] for f in r["flags"])


def test_malformed_results_json(tmp_path):
    (tmp_path / "results.json").write_text('{"results": {"o": {"files": 3}}}')
    with pytest.raises(AcroFormatError):
        read_results(tmp_path)
