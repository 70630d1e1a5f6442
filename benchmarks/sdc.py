"""SDC engine against ACRO 1.0.2: same data, same flags, time ratio.

    python -m benchmarks.sdc [--rows 1000000]

Prints each figure beside ACRO's (the baseline, measured in the same run) and asserts that
both flag the same cells.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from egress import tables
from egress.checks import check_paths


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "region": rng.choice([f"R{i:02d}" for i in range(20)], rows),
        "age": rng.choice([f"A{i}" for i in range(8)], rows),
        "sex": rng.choice(["F", "M"], rows),
        "rare": rng.choice(list("abcdefghij"), rows, p=[0.3] * 3 + [0.0997] + [0.00005] * 6),
        "cost": rng.lognormal(3.0, 1.5, rows)})


def timed(fn, repeat: int = 1):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def acro_cells(acro, names) -> set:
    record = list(acro.results.results.values())[-1]
    return {(str(r), str(c)) for c in record.outcome.columns
            for r, text in record.outcome[c].items() if any(n in text for n in names)}


def spe_cells(res, rules) -> set:
    return {(_label(f["row"]), _label(f["column"])) for f in res.check("acro-default")["flags"]
            if f["rule"] in rules}


def _label(parts):
    return str(tuple(parts)) if len(parts) > 1 else parts[0]


def crosstab_case(acro, df, index, aggfunc) -> tuple[float, float]:
    values = None if aggfunc == "count" else "cost"

    def spe():  # table, evidence and checks: what ACRO's crosstab does too
        res = tables.crosstab(df, index, "rare", values=values, aggfunc=aggfunc)
        res.assess("acro-default")
        return res

    ours_t, ours = timed(spe, repeat=3)
    rows = [df[c] for c in index] if isinstance(index, list) else df[index]
    theirs_t, _ = timed(lambda: acro.crosstab(rows, df["rare"],
                                              values=None if values is None else df.cost,
                                              aggfunc=None if values is None else aggfunc))
    for acro_name, mine in (("MinimumThresholdCheck", {"threshold", "zeros"}),
                            ("NKCheck", {"nk-dominance"}), ("PPercentCheck", {"p-percent"})):
        assert acro_cells(acro, [acro_name]) == spe_cells(ours, mine), acro_name
    return ours_t, theirs_t


def csv_case(rows: int = 5000, files: int = 20) -> float:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(files):
            f = pd.DataFrame({"region": rng.choice([f"R{j}" for j in range(50)], rows),
                              "week": rng.integers(1, 53, rows),
                              "n": rng.integers(0, 500, rows)})
            paths.append(Path(tmp) / f"t{i}.csv")
            f.to_csv(paths[-1], index=False)
        t, records = timed(lambda: check_paths(paths, "snds"), repeat=3)
        assert len(records) == files
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.getLogger("acro").setLevel(logging.ERROR)
    from acro import ACRO

    df = frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            acro = ACRO(suppress=False)
            print(f"crosstab over {args.rows:,} rows: spe vs ACRO 1.0.2 (same flags asserted)")
            for label, index, agg in (("2-D count", "region", "count"),
                                      ("2-D mean", "region", "mean"),
                                      ("3-D count", ["region", "age"], "count"),
                                      ("3-D mean", ["region", "age"], "mean")):
                ours, theirs = crosstab_case(acro, df, index, agg)
                print(f"  {label:10s} spe {ours:7.3f} s   ACRO {theirs:7.3f} s   "
                      f"speed-up {theirs / ours:6.1f}x")
        finally:
            os.chdir(cwd)
    t = csv_case()
    print(f"check_paths, 20 CSV files x 5,000 rows (best of 3): {t:.3f} s   (target < 2 s: "
          f"{2 / t:.1f}x under)")


if __name__ == "__main__":
    main()
