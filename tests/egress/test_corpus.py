"""A corpus of files as researchers write them, each with its expected verdict and reason.

Most files are generated from a small table of cases, each written in English and French
conventions and in several encodings; ACRO folders and analysis-library outputs come with
true, edited and forged evidence. No file that should not pass may pass; the "should pass"
files must pass (false fails are counted in docs/sdc.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from egress import tables
from egress.checks import check_paths
from egress.record import validate
from egress.sdc.params import load_rules

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
# differencing between the corpus's files is another rule's business: judge each file alone
ALONE = replace(load_rules("snds"), differencing=False)

# (name, header, rows, expected, reason substring); "Total" is written per locale
TABLES = [
    ("long-counts", ["region", "n"], [["Nord", 25], ["Sud", 1340]], "pass", ""),
    ("long-total", ["region", "n"], [["Nord", 25], ["Sud", 1340], ["Total", 1365]], "pass",
     ""),
    ("two-dims", ["region", "sexe", "effectif"],
     [["Nord", "F", 25], ["Nord", "M", 30], ["Sud", "F", 40], ["Sud", "M", 52]], "pass", ""),
    ("wide-named-counts", ["region", "n_F", "n_M", "n_total"],
     [["Nord", 25, 30, 55], ["Sud", 40, 52, 92], ["Total", 65, 82, 147]], "pass", ""),
    ("column-share", ["region", "n", "pct"],
     [["Nord", 25, 25.0], ["Sud", 75, 75.0]], "pass", ""),
    ("row-share", ["region", "n", "pct_diabete"],
     [["Nord", 2500, 12.5], ["Sud", 3000, 30.2]], "pass", ""),
    ("small-count", ["region", "n"], [["Nord", 3], ["Sud", 40]], "fail", "fewer than 11"),
    ("zero", ["region", "n"], [["Nord", 0], ["Sud", 40]], "fail", "zeros are disclosive"),
    ("other-integer-column", ["region", "n", "deaths"], [["Nord", 25, 3], ["Sud", 30, 40]],
     "fail", "3 contributors"),
    ("label-word-in-count-header", ["region", "age_0_17", "age_18_64", "n"],
     [["Nord", 3, 40, 43], ["Sud", 30, 40, 70]], "fail", "3 contributors"),
    ("marker-recovered-by-row-total", ["region", "n_F", "n_M", "n_total"],
     [["Nord", 25, "*", 28], ["Sud", 40, 52, 92]], "fail", "recovered from a total"),
    ("marker-lt11-recovered", ["region", "n"],
     [["Nord", "<11", None], ["Sud", 40, None], ["Total", 47, None]], "fail",
     "recovered from a total"),
    ("marker-s-recovered-wide", ["region", "F", "M", "Total"],
     [["Nord", 25, "s", 28], ["Sud", 30, 40, 70], ["Total", 55, 43, 98]], "fail",
     "recovered from a total"),
    ("two-markers-small-sum", ["region", "n_a", "n_b", "n_c", "n_total"],
     [["Nord", 25, "c", "c", 32], ["Sud", 30, 20, 20, 70]], "fail", "sum to 7"),
    ("markers-without-total", ["region", "n"],
     [["Nord", "*"], ["Sud", 52], ["Est", 40], ["Ouest", 30]], "pass", ""),
    ("maybe-unlabelled-total", ["region", "n"], [["Nord", "*"], ["Sud", 40], ["France", 47]],
     "review", "may be the total"),
    ("hidden-group", ["region", "n"], [["Nord", 25], ["Sud", 40], ["Total", 68]], "fail",
     "a group of 3 not shown"),
    ("total-off", ["region", "n"], [["Nord", 25], ["Sud", 40], ["Total", 50]], "review",
     "not the sum"),
    ("sums-of-cost", ["region", "cost"], [["Nord", 120500], ["Sud", 98000]], "review",
     "per-unit contributions"),
    ("mean-with-count", ["region", "n", "mean_cost"],
     [["Nord", 25, 1204.5], ["Sud", 40, 980.25]], "review", "per-unit contributions"),
    ("max-age", ["region", "n", "max_age"], [["Nord", 25, 97], ["Sud", 40, 95]], "fail",
     "one person's own value"),
    ("median", ["region", "n", "median_los"], [["Nord", 25, 4], ["Sud", 40, 6]], "fail",
     "one person's own value"),
    ("unnamed-integers", ["region", "x", "y"], [["Nord", 25, 30], ["Sud", 40, 52]], "review",
     "counts, sums or codes"),
    ("percent-small-numerator", ["region", "n", "pct_deces"],
     [["Nord", 250, 2.0], ["Sud", 300, 30.5]], "fail", "fewer than 11"),
    ("percent-without-count", ["region", "pct"], [["Nord", 25.5], ["Sud", 74.5]], "review",
     "no count column"),
    ("formula", ["region", "n", "note"],
     [["Nord", 25, '=HYPERLINK("http://x")'], ["Sud", 40, "ok"]], "review", "formula"),
    ("formula-cmd", ["region", "n", "note"],
     [["Nord", 25, "=cmd|' /C calc'!A0"], ["Sud", 40, "ok"]], "review", "formula"),
    ("negative-numbers-are-numbers", ["region", "n", "delta_mean"],
     [["Nord", 25, -3.5], ["Sud", 40, 2.5]], "review", "per-unit contributions"),
]
LOCALES = {
    "en": {"sep": ",", "dec": ".", "thou": ",", "total": "Total"},
    "fr": {"sep": ";", "dec": ",", "thou": "\u202f", "total": "Total général"},
}
ENCODINGS = {"utf8": ("utf-8", b""), "bom": ("utf-8", b"\xef\xbb\xbf"),
             "cp1252": ("cp1252", b"")}


def number(v, loc) -> str:
    text = f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}"
    text = text.replace(",", "\0").replace(".", loc["dec"]).replace("\0", loc["thou"])
    return f'"{text}"' if loc["sep"] in text or (loc["thou"] == "," and "," in text) else text


def render(header, rows, loc, with_header=True) -> str:
    lines = [loc["sep"].join(header)] if with_header else []
    for row in rows:
        cells = []
        for v in row:
            if v is None:
                continue
            if v == "Total":
                v = loc["total"]
            cells.append(number(v, loc) if isinstance(v, int | float) else
                         (f'"{v}"' if loc["sep"] in v else v))
        lines.append(loc["sep"].join(cells))
    return "\n".join(lines) + "\n"


@dataclass
class Case:
    name: str
    expected: str
    reason: str


def write_csv_cases(root: Path) -> dict[str, Case]:
    cases = {}
    for name, header, rows, expected, reason in TABLES:
        rows = [[v for v in r if v is not None] for r in rows]
        header = header[:len(rows[0])]
        for loc_name, loc in LOCALES.items():
            for enc_name, (enc, bom) in ENCODINGS.items():
                if enc_name != "utf8" and loc_name == "en" and name not in (
                        "long-counts", "small-count", "marker-s-recovered-wide"):
                    continue
                text = render(header, rows, loc)
                if enc == "cp1252" and loc["thou"] == "\u202f":
                    text = text.replace("\u202f", "\u00a0")
                f = root / f"{name}.{loc_name}.{enc_name}.csv"
                f.write_bytes(bom + text.encode(enc))
                cases[f.name] = Case(f.name, expected, reason)
    # tab-separated and headerless variants
    f = root / "long-counts.tab.csv"
    f.write_text("region\tn\nNord\t25\nSud\t1340\n")
    cases[f.name] = Case(f.name, "pass", "")
    f = root / "headerless.csv"
    f.write_text("Nord,25,30\nSud,40,52\n")
    cases[f.name] = Case(f.name, "review", "no header row")
    f = root / "mixed-number-formats.csv"
    f.write_text('region;n;m\nNord;"1,234.5";12\nSud;"1 234,5";40\n')
    cases[f.name] = Case(f.name, "review", "two formats")
    f = root / "not-text.csv"
    f.write_bytes(b"\x00\x01\x02region,n\n")
    cases[f.name] = Case(f.name, "review", "cannot interpret")
    return cases


def write_row_level(root: Path) -> dict[str, Case]:
    rng = np.random.default_rng(3)
    n = 300
    people = pd.DataFrame({"sexe": rng.choice(["F", "M"], n),
                           "age": rng.integers(18, 95, n).astype(str),
                           "commune": rng.choice([f"C{i:03d}" for i in range(40)], n),
                           "diag": rng.choice(["E11", "I10", "C50", "J45"], n)})
    out = {}
    for name, frame, reason in (
            ("quasi-identifiers.csv", people, "quasi-identifiers"),
            ("one-per-row.csv", people.assign(n=1), "one person per row"),
            ("pseudonyms.csv", people.assign(
                ben_idt_ano=[hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)],
                n=20), "identifier"),
            ("repeated-cells.csv", people[["sexe", "diag"]].assign(cost=rng.gamma(2, 40, n)),
             "repeat the labels")):
        frame.to_csv(root / name, index=False)
        out[name] = Case(name, "fail", reason)
    return out


def write_others(root: Path) -> dict[str, Case]:
    out = {}
    for name, data, reason in (
            ("results.json", b'{"n": 3}', "JSON"), ("notes.txt", b"n=3 in Nord", "text"),
            ("plot.png", b"\x89PNG\r\n\x1a\n", "image"), ("page.html", b"<p>3</p>", "HTML"),
            ("analysis.ipynb", b"{}", "notebook"), ("summary.md", b"# n = 3", "text")):
        (root / name).write_bytes(data)
        out[name] = Case(name, "review", reason)
    return out


def microdata(n=3000, seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"region": rng.choice(list("NSEW"), n),
                         "sex": rng.choice(["F", "M"], n),
                         "cost": rng.gamma(2, 40, n)})


def write_analysis(root: Path) -> dict[str, Case]:
    """spe's tables with true, edited and forged sidecars."""
    df = microdata()
    out = {}
    tables.crosstab(df, "region", "sex").to_csv(root / "true-counts.csv")
    out["true-counts.csv"] = Case("true-counts.csv", "review", "whole numbers")
    tables.crosstab(df, "region", "sex", values="cost", aggfunc="mean").to_csv(
        root / "true-means.csv")
    out["true-means.csv"] = Case("true-means.csv", "review", "evidence matches")
    small = df.iloc[:40]
    tables.crosstab(small, "region", "sex").to_csv(root / "true-small.csv")
    out["true-small.csv"] = Case("true-small.csv", "fail", "fewer than 11")
    # edited after writing: the sidecar describes other bytes
    tables.crosstab(df, "region", "sex").to_csv(root / "edited.csv")
    p = root / "edited.csv"
    p.write_text(p.read_text().replace("\n", "\nX,3,4\n", 1))
    out["edited.csv"] = Case("edited.csv", "fail", "evidence does not match the table")
    # forged: table edited, sidecar rewritten with the new hash but the old counts
    tables.crosstab(small, "region", "sex").to_csv(root / "forged-hash.csv")
    p, side = root / "forged-hash.csv", root / "forged-hash.sdc.json"
    text = p.read_text().splitlines()
    text[1] = ",".join([text[1].split(",")[0], "50", "60"])
    p.write_text("\n".join(text) + "\n")
    doc = json.loads(side.read_text())
    doc["table_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    side.write_text(json.dumps(doc))
    out["forged-hash.csv"] = Case("forged-hash.csv", "fail", "evidence does not match")
    # hand-written: a sum table with a sidecar claiming the sums are counts
    p = root / "forged-counts.csv"
    p.write_text("region,F,M\nN,1205,900\nS,1310,1500\n")
    ev = {"statistic": "count", "row_dims": ["region"], "col_dims": ["sex"],
          "row_labels": [["N"], ["S"]], "col_labels": [["F"], ["M"]], "margins": False,
          "count": [[1205, 900], [1310, 1500]]}
    (root / "forged-counts.sdc.json").write_text(json.dumps({
        "format": "spe-sdc-sidecar", "version": 1, "table_file": p.name,
        "table_sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "evidence": ev}))
    out["forged-counts.csv"] = Case("forged-counts.csv", "review", "whole numbers")
    # hand-written sidecar whose counts contradict the cells
    p = root / "forged-wrong.csv"
    p.write_text("region,F,M\nN,3,900\nS,1310,1500\n")
    ev["count"] = [[30, 900], [1310, 1500]]
    (root / "forged-wrong.sdc.json").write_text(json.dumps({
        "format": "spe-sdc-sidecar", "version": 1, "table_file": p.name,
        "table_sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "evidence": ev}))
    out["forged-wrong.csv"] = Case("forged-wrong.csv", "fail", "evidence does not match")
    # a malformed sidecar
    (root / "garbled.csv").write_text("region,n\nN,30\nS,40\n")
    (root / "garbled.sdc.json").write_text("{not json")
    out["garbled.csv"] = Case("garbled.csv", "fail", "evidence does not match")
    return out


@pytest.fixture(scope="module")
def acro_folder(tmp_path_factory):
    from acro import ACRO

    work = tmp_path_factory.mktemp("acro")
    df = microdata(1000, seed=9)
    df["a"] = np.random.default_rng(0).choice(list("abc"), 1000, p=[0.5, 0.497, 0.003])
    cwd = os.getcwd()
    os.chdir(work)
    try:
        logging.getLogger("acro").setLevel(logging.WARNING)
        acro = ACRO(suppress=False)
        acro.crosstab(df.region, df.sex)
        acro.crosstab(df.a, df.sex)
        acro.crosstab(df.region, df.sex, values=df.cost, aggfunc="mean")
        acro.crosstab([df.region, df.a], df.sex)  # 3-D: two label columns
        acro.finalise("out", "json")
    finally:
        os.chdir(cwd)
    return work / "out"


def write_acro(root: Path, real: Path) -> dict[str, Case]:
    out = {}
    shutil.copytree(real, root / "acro-true")
    for f, case in (("output_0_0.csv", ("review", "whole numbers")),
                    ("output_1_0.csv", ("fail", "fewer than 11")),
                    ("output_2_0.csv", ("review", "numbers with no name")),
                    ("output_3_0.csv", ("fail", "fewer than 11")),
                    ("results.json", ("review", "ACRO metadata"))):
        out[f"acro-true/{f}"] = Case(f, *case)
    # hand-written results.json: a table of sums called a frequency table that passed
    hand = root / "acro-hand"
    hand.mkdir()
    (hand / "sums.csv").write_text("region,F,M\nN,120500,98000\nS,110000,87000\n")
    (hand / "small.csv").write_text("region,F,M\nN,3,98\nS,110,87\n")
    (hand / "fake-regression.csv").write_text("region,n\nN,3\nS,110\n")
    results = {"version": "1.0.2", "results": {
        "output_0": {"uid": "output_0", "status": "pass", "type": "table",
                     "summary": "FrequencyTable : pass", "files": [{"name": "sums.csv"}],
                     "outcome": {"F": {"N": "ok", "S": "ok"}, "M": {"N": "ok", "S": "ok"}}},
        "output_1": {"uid": "output_1", "status": "pass", "type": "table",
                     "summary": "FrequencyTable : pass", "files": [{"name": "small.csv"}],
                     "outcome": {"F": {"N": "ok", "S": "ok"}, "M": {"N": "ok", "S": "ok"}}},
        "output_2": {"uid": "output_2", "status": "pass", "type": "regression",
                     "summary": "pass", "properties": {"dof": 500},
                     "files": [{"name": "fake-regression.csv"}]}}}
    (hand / "results.json").write_text(json.dumps(results))
    out["acro-hand/sums.csv"] = Case("sums.csv", "review", "whole numbers")
    out["acro-hand/small.csv"] = Case("small.csv", "fail", "fewer than 11")
    out["acro-hand/fake-regression.csv"] = Case("fake-regression.csv", "fail",
                                                 "no part of a model")
    out["acro-hand/results.json"] = Case("results.json", "review", "ACRO metadata")
    # a real folder whose table was edited after ACRO, checksum left as it was
    edited = root / "acro-edited"
    shutil.copytree(real, edited)
    (edited / "output_0_0.csv").write_text("region,F,M\nE,300,310\nN,320,330\n")
    out["acro-edited/output_0_0.csv"] = Case("output_0_0.csv", "fail",
                                             "evidence does not match")
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, acro_folder):
    root = tmp_path_factory.mktemp("corpus")
    loose = root / "files"
    loose.mkdir()
    cases = {}
    for make in (write_csv_cases, write_row_level, write_others, write_analysis):
        cases.update(make(loose))
    acro_cases = write_acro(root, acro_folder)
    paths = sorted(p for p in loose.iterdir() if not p.name.endswith(".sdc.json"))
    records = {r["file"]: r for r in check_paths(paths, ALONE)}
    for folder in ("acro-true", "acro-hand", "acro-edited"):
        for r in check_paths([root / folder], ALONE):
            records[r["file"]] = r
    cases.update(acro_cases)
    return cases, records


def reasons(record) -> str:
    return " | ".join([f["reason"] for f in record["flags"]] + record["notes"])


def test_the_corpus_is_large_enough(corpus):
    cases, records = corpus
    assert len(cases) >= 100
    assert set(cases) <= set(records)


def test_every_verdict_and_reason(corpus):
    cases, records = corpus
    wrong = []
    for name, case in sorted(cases.items()):
        r = records[name]
        validate(r)
        outcome = r["outcome"]
        if outcome != case.expected or case.reason not in reasons(r):
            wrong.append((name, case.expected, outcome, case.reason, reasons(r)[:300]))
    assert not wrong, "\n".join(map(str, wrong))


def test_no_false_pass(corpus):
    cases, records = corpus
    false_pass = [n for n, c in cases.items()
                  if c.expected != "pass" and records[n]["outcome"] == "pass"]
    assert false_pass == []
