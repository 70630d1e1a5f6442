"""Replaying analysis-library tables on an extract, and what the checks make of it."""

import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egress import tables
from egress.checks import check_paths, released_tables
from egress.differencing import Ledger
from egress.record import validate
from egress.replay.engine import (
    MISMATCH,
    NOT_REPLAYABLE,
    VERIFIED,
    NotReplayable,
    ParquetFolder,
    encode_arrow,
    replay,
)
from egress.replay.spec import ReplaySpec
from egress.tabulate import encode_frame


@pytest.fixture
def workspace(tmp_path):
    """A workspace: data/cohort.parquet (the extract table) and an empty outputs/."""
    rng = np.random.default_rng(11)
    n = 4000
    df = pd.DataFrame({"region": rng.choice(["11", "24", "75", "93"], n),
                       "sex": rng.choice(["F", "M"], n),
                       "age": rng.integers(19, 95, n).astype("int64"),
                       "cost": rng.gamma(2.0, 40.0, n)})
    df.loc[17, ["sex", "region", "age"]] = ["F", "24", 18]  # the only 18-year-old
    (tmp_path / "data").mkdir()
    (tmp_path / "outputs").mkdir()
    df.to_parquet(tmp_path / "data" / "cohort.parquet")
    return tmp_path


def _people(workspace):
    return tables.read_extract("cohort", workspace / "data")


def _spec(sidecar):
    return ReplaySpec.from_json(json.loads(sidecar.read_text())["replay"])


def test_a_library_table_replays_to_the_same_cells(workspace):
    res = tables.crosstab(_people(workspace), "region", "sex", values="cost", aggfunc="mean",
                          margins=True, where="age >= 18 and age < 90")
    side = res.to_csv(workspace / "outputs" / "cost.csv")
    spec = _spec(side)
    assert (spec.table, spec.where, spec.derived, spec.unrecorded) == (
        "cohort", "age >= 18 and age < 90", [], None)
    found = replay(spec, (workspace / "outputs" / "cost.csv").read_bytes(),
                   ParquetFolder(workspace / "data"), 30)
    assert found.status == VERIFIED, found.reason
    assert found.rows_read == 4000
    assert (found.evidence.count == res.evidence.count).all()
    assert np.allclose(found.evidence.top, res.evidence.top)


def test_an_edited_table_is_a_mismatch_with_its_cells(workspace):
    path = workspace / "outputs" / "n.csv"
    side = tables.crosstab(_people(workspace), "region", "sex").to_csv(path)
    path.write_text(path.read_text().replace("\n24,", "\n24,1", 1))
    found = replay(_spec(side), path.read_bytes(), ParquetFolder(workspace / "data"), 30)
    assert found.status == MISMATCH
    [cell] = found.cells
    assert (cell["row"], cell["column"]) == (["24"], "F")
    assert cell["submitted"] == "1" + cell["replayed"]


def test_what_cannot_be_replayed(workspace):
    people = _people(workspace)
    people["band"] = people.age // 10 * 10
    derived = tables.crosstab(people, "band", "sex")
    assert derived.spec.derived == ["band"]
    chosen = tables.crosstab(people[people.age < 60], "region", "sex")
    assert "rows were chosen outside the library" in chosen.spec.unrecorded
    plain = tables.crosstab(pd.DataFrame({"a": ["x", "y"], "b": ["u", "v"]}), "a", "b")
    assert plain.spec.table is None
    for res in (derived, chosen, plain):
        data = res.table.to_csv().encode()
        found = replay(res.spec, data, ParquetFolder(workspace / "data"), 30)
        assert found.status == NOT_REPLAYABLE and found.reason == res.spec.not_replayable


def test_a_column_changed_in_place_is_caught_when_the_sidecar_is_written(workspace):
    people = _people(workspace)
    people["sex"] = people.sex.str.lower()  # the extract's own name, other values
    side = tables.crosstab(people, "region", "sex").to_csv(workspace / "outputs" / "n.csv")
    assert "is not the same" in _spec(side).unrecorded


def test_a_variable_the_extract_lacks_and_the_time_bound(workspace):
    spec = ReplaySpec("cohort", ["region"], ["postcode"])
    found = replay(spec, b"x", ParquetFolder(workspace / "data"), 30)
    assert found.status == NOT_REPLAYABLE and "'postcode' not a column" in found.reason
    found = replay(ReplaySpec("nothere", ["a"], ["b"]), b"x",
                   ParquetFolder(workspace / "data"), 30)
    assert "no extract table 'nothere'" in found.reason
    res = tables.crosstab(_people(workspace), "region", "sex")
    found = replay(res.spec, res.table.to_csv().encode(), ParquetFolder(workspace / "data"), 0)
    assert found.status == NOT_REPLAYABLE and "time bound" in found.reason


class _Slow:
    def read(self, name, columns, deadline):
        raise NotReplayable("over the memory bound: 9 GB of columns, at most 1 GB")


def test_a_source_that_refuses_is_not_replayable():
    found = replay(ReplaySpec("t", ["a"], ["b"]), b"a,b\n", _Slow(), 30)
    assert found.status == NOT_REPLAYABLE and "memory bound" in found.reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=1, max_size=30),
       st.lists(st.one_of(st.none(), st.sampled_from(["b", "a", "c", ""])), min_size=30,
                max_size=30),
       st.lists(st.one_of(st.none(), st.just(float("nan")), st.floats(-2, 2)), min_size=30,
                max_size=30),
       st.lists(st.booleans(), min_size=30, max_size=30))
def test_arrow_encoding_is_pandas_factorize(ints, texts, floats, kept):
    """Over the rows kept, with text as plain strings or as a dictionary holding categories
    no kept row uses: the codes and categories pandas gives the filtered frame."""
    n = len(ints)
    keep = np.array(kept[:n])
    text = pa.array(texts[:n], pa.string())
    categories = ["zz", *dict.fromkeys(t for t in texts[:n] if t is not None)]
    indices = pa.array([None if t is None else categories.index(t) for t in texts[:n]],
                       pa.int32())
    table = pa.table({"i": pa.array(ints, pa.int64()), "t": text,
                      "d": pa.DictionaryArray.from_arrays(indices, pa.array(categories)),
                      "f": pa.array(floats[:n], pa.float64())})
    frame = table.to_pandas().assign(d=table.column("d").to_pylist())[keep]
    for dims in (["i"], ["t"], ["d"], ["f"], ["t", "i"], ["f", "t", "i"]):
        mine, theirs = encode_arrow(table, dims, keep), encode_frame(frame, dims)
        assert (mine.codes[keep] == theirs.codes).all() and (mine.codes[~keep] == -1).all()
        # an integer column with nulls is float in pandas: 1 and 1.0 are one label
        assert [list(map(_label, lv)) for lv in mine.levels] == \
               [list(map(_label, lv)) for lv in theirs.levels]


def _label(value):
    return value if isinstance(value, str) else float(value)


# --- the checks, given the extract ----------------------------------------------------------

def _check(workspace, *names, ledger=None, extract=True):
    paths = [workspace / "outputs" / n for n in names]
    source = ParquetFolder(workspace / "data") if extract else None
    records = check_paths(paths, "snds", ledger=ledger, extract=source)
    for r in records:
        validate(r)
    return {r["file"]: r for r in records}


def test_a_replayed_mean_table_passes_on_its_own_merits(workspace):
    tables.crosstab(_people(workspace), "region", "sex", values="cost",
                    aggfunc="mean").to_csv(workspace / "outputs" / "cost.csv")
    offline = _check(workspace, "cost.csv", extract=False)["cost.csv"]
    assert offline["outcome"] == "review" and "replay" not in offline
    r = _check(workspace, "cost.csv")["cost.csv"]
    assert r["replay"]["status"] == "verified"
    assert r["outcome"] == "pass", r["notes"]
    assert {"nk-dominance", "p-percent"} <= {x["rule"] for x in r["rules"]}


def test_dominance_the_replay_reveals_and_the_csv_could_not(workspace):
    people = _people(workspace)
    one = people.index[(people.region == "75") & (people.sex == "M")][0]
    people.loc[one, "cost"] = 1e7  # one person's cost makes the cell's mean
    extract = people.copy()
    extract.attrs = {}
    extract.to_parquet(workspace / "data" / "cohort.parquet")
    people = _people(workspace)
    path = workspace / "outputs" / "cost.csv"
    side = tables.crosstab(people, "region", "sex", values="cost", aggfunc="mean").to_csv(path)
    # the sidecar's contributions, forged so the cell looks shared by many
    doc = json.loads(side.read_text())
    doc["evidence"]["top"] = [[[1.0, 1.0] for _ in row] for row in doc["evidence"]["top"]]
    side.write_text(json.dumps(doc))
    alone = check_paths([path.rename(path.with_name("plain.csv"))], "snds")[0]
    assert alone["outcome"] == "review" and not alone["flags"]  # the CSV alone cannot tell
    path.with_name("plain.csv").rename(path)
    claimed = _check(workspace, "cost.csv", extract=False)["cost.csv"]
    assert claimed["outcome"] == "review" and not claimed["flags"]  # the forged claim hides it
    r = _check(workspace, "cost.csv")["cost.csv"]
    assert r["replay"]["status"] == "verified" and r["outcome"] == "fail"
    assert {(tuple(f["row"]), tuple(f["column"]), f["rule"]) for f in r["flags"]} == {
        (("75",), ("M",), "nk-dominance"), (("75",), ("M",), "p-percent")}


def test_an_edited_table_fails_with_the_cells(workspace):
    path = workspace / "outputs" / "n.csv"
    tables.crosstab(_people(workspace), "region", "sex").to_csv(path)
    path.write_text(path.read_text().replace("\n24,", "\n24,9", 1))
    r = _check(workspace, "n.csv")["n.csv"]
    assert r["outcome"] == "fail" and r["replay"]["status"] == "mismatch"
    assert r["replay"]["cells"][0]["row"] == ["24"]
    assert any(f["rule"] == "replay" and "24, F" in f["reason"] for f in r["flags"])


def test_a_hand_written_sidecar_is_informative_only(workspace):
    path = workspace / "outputs" / "cost.csv"
    side = tables.crosstab(_people(workspace), "region", "sex", values="cost",
                           aggfunc="mean").to_csv(path)
    doc = json.loads(side.read_text())
    del doc["replay"]
    side.write_text(json.dumps(doc))
    r = _check(workspace, "cost.csv")["cost.csv"]
    assert r["replay"]["status"] == "not replayable" and r["outcome"] == "review"
    assert "records no specification" in r["replay"]["reason"]
    doc["replay"] = {"format": "spe-replay-spec", "version": 1, "table": "cohort",
                     "rows": ["region"], "columns": ["sex"], "statistic": "count",
                     "where": "__import__('os')"}
    side.write_text(json.dumps(doc))
    r = _check(workspace, "cost.csv")["cost.csv"]
    assert r["replay"]["status"] == "not replayable" and "malformed" in r["replay"]["reason"]


def test_a_derived_variable_is_not_replayable(workspace):
    people = _people(workspace)
    people["band"] = people.age // 25 * 25
    tables.crosstab(people, "band", "sex").to_csv(workspace / "outputs" / "band.csv")
    r = _check(workspace, "band.csv")["band.csv"]
    assert r["replay"]["status"] == "not replayable"
    assert r["replay"]["spec"]["derived"] == ["band"]
    assert "evidence is informative only" in " ".join(r["notes"])


def test_recorded_filters_tell_the_populations_apart(workspace):
    """Issue 17: the analysis library's filters, verified by the replay, reach the
    differencing audit, which then pins the lone 18-year-old down instead of asking a person
    whether one table's population holds the other's."""
    people = _people(workspace)
    out = workspace / "outputs"
    tables.crosstab(people, "region", "sex", where="age >= 18").to_csv(out / "adults.csv")
    tables.crosstab(people, "region", "sex", where="age >= 19").to_csv(out / "over19.csv")
    first = _check(workspace, "adults.csv")
    ledger = Ledger(released_tables(list(first.values()), [out / "adults.csv"], "snds"))
    assert ledger.tables[0].filters == {"age": ">=18"}
    assert ledger.tables[0].population == "extract table cohort"
    later = _check(workspace, "over19.csv",
                   ledger=Ledger.from_json(ledger.to_json()))["over19.csv"]
    flags = [f for f in later["flags"] if f["rule"] == "differencing"]
    assert later["outcome"] == "fail"
    assert [(f["severity"], f["evidence"]["interval"]) for f in flags] == [("fail", [1, 1])]
    assert "region=24" in flags[0]["reason"] and "sex=F" in flags[0]["reason"]
    # without the replay, the same tables only raise the nested-population question
    unfiltered = Ledger.from_json(ledger.to_json())
    unfiltered.tables[0].filters = {}
    offline = _check(workspace, "over19.csv", ledger=unfiltered, extract=False)
    assert offline["over19.csv"]["outcome"] == "review"


def test_a_filter_that_does_not_translate_is_one_opaque_condition(workspace):
    """A replayed ``where=`` the audit cannot split into conditions per variable (``!=``) is
    kept whole as one condition, not dropped: read as no filter, "everyone but the
    18-year-old" would be taken for everyone. Against all people it pins the 18-year-old
    down."""
    people = _people(workspace)
    out = workspace / "outputs"
    tables.crosstab(people, "region", "sex").to_csv(out / "all.csv")
    tables.crosstab(people, "region", "sex", where="age != 18").to_csv(out / "not18.csv")
    first = _check(workspace, "all.csv")
    ledger = Ledger(released_tables(list(first.values()), [out / "all.csv"], "snds"))
    later = _check(workspace, "not18.csv", ledger=Ledger.from_json(ledger.to_json()))
    [flag] = [f for f in later["not18.csv"]["flags"] if f["rule"] == "differencing"]
    assert (flag["severity"], flag["evidence"]["interval"]) == ("fail", [1, 1])
    assert all(s in flag["reason"] for s in ("age != 18", "region=24", "sex=F"))


def test_a_table_without_column_dimensions(workspace):
    """One column, named after its values: checked offline (its evidence compared with the
    file, which used to raise) and replayed."""
    tables.pivot_table(_people(workspace), "cost", "region", aggfunc="mean").to_csv(
        workspace / "outputs" / "cost.csv")
    offline = _check(workspace, "cost.csv", extract=False)["cost.csv"]
    assert offline["outcome"] == "review"
    assert not any(f["rule"] == "evidence" for f in offline["flags"])
    replayed = _check(workspace, "cost.csv")["cost.csv"]
    assert replayed["replay"]["status"] == "verified" and replayed["outcome"] == "pass"


class _SlowFolder(ParquetFolder):
    def read(self, name, columns, deadline):
        time.sleep(1.0)
        return super().read(name, columns, deadline)


def test_the_replays_of_a_request_share_one_time_bound(workspace):
    people = _people(workspace)
    names = ("a.csv", "b.csv", "c.csv")
    for name in names:
        tables.crosstab(people, "region", "sex").to_csv(workspace / "outputs" / name)
    records = check_paths([workspace / "outputs" / n for n in names], "snds",
                          extract=_SlowFolder(workspace / "data"), replay_seconds=1.6)
    first, second, third = (r["replay"] for r in records)
    assert first["status"] == "verified"
    assert second["status"] == "not replayable" and "time bound" in second["reason"]
    assert third["status"] == "not replayable"
    assert "whole time bound (1.6 s) before this table" in third["reason"]
