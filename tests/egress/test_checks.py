import numpy as np
import pandas as pd
import pytest

from egress import tables
from egress.checks import check_paths, released_tables
from egress.differencing import Ledger
from egress.errors import InputError, UnknownPolicyError
from egress.record import validate


@pytest.fixture
def request_dir(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"region": rng.choice(list("NSEW"), n), "sex": rng.choice(["F", "M"], n),
                       "age": rng.integers(19, 90, n), "cost": rng.gamma(2, 40, n)})
    df.loc[0, "age"] = 18
    tables.crosstab(df[df.age >= 18], "region", "sex").to_csv(tmp_path / "adults.csv")
    tables.crosstab(df[df.age >= 19], "region", "sex").to_csv(tmp_path / "over19.csv")
    tables.crosstab(df, "region", "sex", values="cost", aggfunc="mean").to_csv(
        tmp_path / "cost.csv")
    (tmp_path / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "plain.csv").write_text("region,n\nN,3\nS,40\n")
    return tmp_path


def test_records_for_a_request(request_dir):
    files = sorted(p for p in request_dir.iterdir() if not p.name.endswith(".sdc.json"))
    records = {r["file"]: r for r in check_paths(files, "snds")}
    for r in records.values():
        validate(r)
    assert records["cost.csv"]["kind"] == "analysis-table"
    # evidence matches and adds checks, but cannot lift means above review
    assert records["cost.csv"]["outcome"] == "review"
    assert records["plot.png"]["outcome"] == "review" and "image" in records["plot.png"]["notes"][0]
    assert records["plain.csv"]["kind"] == "csv-table"
    assert records["plain.csv"]["outcome"] == "fail"
    # the two adult tables of the same request isolate the 18-year-old if one population
    # contains the other; no filter was recorded, so a person decides: both go to review
    for name in ("adults.csv", "over19.csv"):
        assert [f["rule"] for f in records[name]["flags"]] == ["differencing"]
        assert records[name]["outcome"] == "review"
        assert "contains" in records[name]["flags"][0]["reason"]


def test_differencing_against_the_released_ledger(request_dir):
    first = check_paths([request_dir / "adults.csv"], "snds")
    assert first[0]["outcome"] == "review" and first[0]["flags"] == []
    ledger = Ledger(released_tables(first, [request_dir / "adults.csv"], "snds"))
    later = check_paths([request_dir / "over19.csv"], "snds", ledger=Ledger.from_json(
        ledger.to_json()))
    assert later[0]["outcome"] == "review"  # nested populations, no filter recorded
    assert "adults.csv" in later[0]["flags"][0]["reason"]


def test_a_sidecar_submitted_for_release_fails(request_dir):
    [r] = check_paths([request_dir / "cost.sdc.json"], "snds")
    assert r["outcome"] == "fail" and r["flags"][0]["rule"] == "sidecar"


def test_a_table_edited_after_writing_fails(request_dir):
    path = request_dir / "adults.csv"
    path.write_text(path.read_text() + "X,100,200\n")
    [r] = check_paths([path], "snds")
    assert r["kind"] == "analysis-table" and r["outcome"] == "fail"
    assert "evidence does not match the table" in r["flags"][0]["reason"]


def test_errors(request_dir):
    with pytest.raises(UnknownPolicyError):
        check_paths([request_dir / "plain.csv"], "no-such-pack")
    with pytest.raises(InputError):
        check_paths([request_dir / "missing.csv"], "snds")
