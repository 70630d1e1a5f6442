import json

import pytest
from typer.testing import CliRunner

from egress.cli import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ok.csv").write_text("region,n\nN,30\nS,40\n")
    (tmp_path / "small.csv").write_text("region,n\nN,3\nS,40\n")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return tmp_path


@pytest.mark.parametrize(("names", "code"), [
    (["ok.csv"], 0), (["ok.csv", "plot.png"], 1), (["ok.csv", "plot.png", "small.csv"], 2)])
def test_exit_code_is_the_worst_outcome(files, names, code):
    result = runner.invoke(app, ["check", *[str(files / n) for n in names], "--policy", "snds"])
    assert result.exit_code == code, result.output
    assert "SDC checks" in result.output


def test_json_output_has_one_record_per_file(files):
    result = runner.invoke(app, ["check", str(files / "small.csv"), str(files / "ok.csv"),
                                 "--json"])
    records = json.loads(result.output)
    assert [(r["file"], r["outcome"]) for r in records] == [("small.csv", "fail"),
                                                            ("ok.csv", "pass")]


def test_unknown_policy_and_unreadable_input(files):
    assert runner.invoke(app, ["check", str(files / "ok.csv"), "-p", "nope"]).exit_code == 4
    assert runner.invoke(app, ["check", str(files / "missing.csv")]).exit_code == 3
    (files / "bad.json").write_text("{")
    bad_ledger = runner.invoke(app, ["check", str(files / "ok.csv"), "--ledger",
                                     str(files / "bad.json")])
    assert bad_ledger.exit_code == 3


def test_ledger_option_enables_differencing(files):
    (files / "ledger.json").write_text(json.dumps({"version": 1, "tables": [
        {"name": "old.csv", "dims": ["region", "column"],
         "cells": [["N", "n", 31], ["S", "n", 40]]}]}))
    result = runner.invoke(app, ["check", str(files / "ok.csv"), "--json", "--ledger",
                                 str(files / "ledger.json")])
    assert result.exit_code == 1  # N differs by 1: nested populations? a person decides
    assert json.loads(result.output)[0]["flags"][0]["rule"] == "differencing"


def test_replay_on_the_workspace_extract(tmp_path):
    """--extract data/: a preview of the airlock's replay, on the workspace's copy."""
    import pandas as pd

    from egress import tables

    (tmp_path / "data").mkdir()
    pd.DataFrame({"sex": ["F", "M"] * 30, "age": list(range(60)),
                  "cost": [10.0] * 60}).to_parquet(tmp_path / "data" / "cohort.parquet")
    people = tables.read_extract("cohort", tmp_path / "data")
    tables.pivot_table(people, "cost", "sex", aggfunc="mean").to_csv(tmp_path / "cost.csv")
    args = ["check", str(tmp_path / "cost.csv"), "--json"]
    offline = json.loads(runner.invoke(app, args).output)[0]
    assert offline["outcome"] == "review" and "replay" not in offline
    result = runner.invoke(app, [*args, "--extract", str(tmp_path / "data")])
    [record] = json.loads(result.output)
    assert record["replay"]["status"] == "verified" and record["outcome"] == "pass"
    assert result.exit_code == 0
    missing = runner.invoke(app, [*args, "--extract", str(tmp_path / "nope")])
    assert missing.exit_code == 3
