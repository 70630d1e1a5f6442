"""Replaying an analysis-library crosstab on a large extract table.

    python -m benchmarks.replay [--rows 10000000]

An extract table of ``--rows`` people (department: 101 text categories, sex, age, cost) is
written as Parquet, as the data plane gives it once decrypted. The replay reads the columns
the specification names, applies its filter, encodes the dimensions and aggregates
(:func:`egress.replay.engine.replay`), then compares every cell with the submitted file.
Printed beside the baseline measured in the same run on the same file: pandas reading the
same columns and ``df[df.age >= 18].groupby([...]).size()``. Decryption is not timed (it is
the grant endpoint's, measured in ``benchmarks.extract``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egress.replay.engine import VERIFIED, ParquetFolder, make_table, replay
from egress.replay.spec import ReplaySpec

TARGET_SECONDS = 3.0


def extract_table(folder: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    departments = pa.array([f"{i:02d}" for i in range(1, 96)] +
                           ["2A", "2B", "971", "972", "973", "974"])
    dep = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, len(departments), rows).astype(np.int32)), departments)
    sex = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 2, rows).astype(np.int32)),
                                         pa.array(["F", "M"]))
    table = pa.table({"departement": dep.cast(pa.string()), "sexe": sex.cast(pa.string()),
                      "age": pa.array(rng.integers(0, 100, rows)),
                      "cost": pa.array(rng.gamma(2.0, 40.0, rows))})
    path = folder / "cohort.parquet"
    pq.write_table(table, path, compression="zstd")
    return path


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        path = extract_table(folder, args.rows)
        print(f"extract table: {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB Parquet "
              f"(written in {time.perf_counter() - started:.1f} s)")
        source = ParquetFolder(folder)
        for label, spec in (
                ("crosstab counts", ReplaySpec("cohort", ["departement"], ["sexe"],
                                               where="age >= 18")),
                ("crosstab mean cost", ReplaySpec("cohort", ["departement"], ["sexe"],
                                                  "mean", "cost", where="age >= 18"))):
            submitted = make_table(spec, pq.read_table(path, columns=spec.variables()))[0]
            data = submitted.to_csv().encode()
            t_replay, found = best(lambda s=spec, d=data: replay(s, d, source, 60.0),
                                   args.repeat)
            assert found.status == VERIFIED, found.reason
            columns = spec.variables()

            def baseline(s=spec, c=columns):
                df = pd.read_parquet(path, columns=c)
                kept = df[df.age >= 18]
                grouped = kept.groupby([*s.rows, *s.columns])
                out = grouped.size() if s.values is None else grouped[s.values].mean()
                return out.unstack()

            t_pandas, expected = best(baseline, args.repeat)
            assert int(expected.to_numpy().round(6).size) == submitted.size
            ok = "met" if t_replay < TARGET_SECONDS else "MISSED"
            print(f"{label}: replay {t_replay:.2f} s (read, filter, encode, aggregate, "
                  f"compare {submitted.size} cells; target < {TARGET_SECONDS:g} s: {ok}); "
                  f"pandas groupby on the same file {t_pandas:.2f} s; ratio "
                  f"{t_replay / t_pandas:.2f}x (best of {args.repeat})")


if __name__ == "__main__":
    main()
