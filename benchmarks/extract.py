"""Extract preparation throughput and memory: ``python -m benchmarks.extract [--rows N]``.

A synthetic SNDS-like care file (10 columns, 2 direct identifiers; ``--people`` persons,
500,000 by default, and one prescriber per 25 persons, whatever the rows) goes through
``prepare_extract`` end to end on a LocalObjectStore: read by row groups, minimise (8 of 10
columns kept), pseudonymise both identifiers, write Parquet, encrypt, store, sign. Each run is
a fresh child process, so its peak resident memory (``ru_maxrss``) is its own; running at
``--small`` rows as well shows that memory does not grow with the file.

Baseline, measured in the same run on a ``--baseline-rows`` sample (the naive way is too
slow to run on millions): pandas reads the file, keeps the columns, ``apply`` computes an HMAC
per identifier cell, ``to_parquet``, then one-shot AES-256-GCM. The ratio compares rows per
second.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 10_000_000
SMALL = 5_000_000  # above the pipeline depth (5 batches of 1M rows), so memory has levelled
BASELINE_ROWS = 200_000
KEPT = ("nir", "prescriber_id", "care_date", "act_code", "atc_code", "icd10", "cost_eur",
        "provider_department")
IDENTIFIERS = ("nir", "prescriber_id")
SECRET = b"benchmark-master-secret-32-bytes"
PERMIT = "PERMIT-BENCH-1"
PEOPLE = 500_000  # one population for both sizes: only the number of rows changes


def make_source(path: Path, rows: int, people: int) -> float:
    from spe.data import synth

    started = time.perf_counter()
    synth.write("care", path, rows, seed=1, n_beneficiaries=people)
    return time.perf_counter() - started


def run_extract(source: Path, workdir: Path) -> dict:
    """In this (child) process: one extract of ``source``; its time and peak memory."""
    import pyarrow as pa

    from spe.crypto.signing import SigningKey
    from spe.data.extract import ExtractSource, prepare_extract
    from spe.keys import LocalKeyStore
    from spe.storage.local import LocalObjectStore

    store = LocalObjectStore(workdir / "store")
    with source.open("rb") as stream:
        store.put("sources/care/care.parquet", stream)
    data_key = LocalKeyStore(workdir / "keys").create_data_key("p-bench")
    signing_key = SigningKey.load_or_create(workdir / "signing.pem")
    started, cpu_started = time.perf_counter(), time.process_time()
    manifest = prepare_extract(
        store, [ExtractSource("care", "sources/care/care.parquet", KEPT, IDENTIFIERS)],
        permit_reference=PERMIT, master_secret=SECRET, data_key=data_key,
        prefix="projects/p-bench/extracts/e-1/", signing_key=signing_key)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    [entry] = manifest["files"]
    return {"rows": entry["rows"], "seconds": elapsed, "cpu_seconds": cpu,
            "ciphertext_bytes": entry["size"],
            "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "arrow_peak_mib": pa.default_memory_pool().max_memory() / 2**20}


def run_baseline(source: Path, rows: int) -> dict:
    """The naive pipeline on the first ``rows`` rows."""
    import pandas as pd
    import pyarrow.parquet as pq
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    sample = Path(tempfile.mkdtemp()) / "sample.parquet"
    parquet = pq.ParquetFile(source)
    pq.write_table(next(parquet.iter_batches(batch_size=rows)).to_pandas().pipe(
        lambda frame: __import__("pyarrow").Table.from_pandas(frame)), sample)
    key = HKDF(hashes.SHA256(), 32, salt=b"spe-pseudonym-v1", info=PERMIT.encode()).derive(SECRET)

    def pseudonym(value: str) -> str:
        digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:26]

    started, cpu_started = time.perf_counter(), time.process_time()
    frame = pd.read_parquet(sample)[list(KEPT)]
    for column in IDENTIFIERS:
        frame[column] = frame[column].apply(pseudonym)
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    AESGCM(os.urandom(32)).encrypt(os.urandom(12), buffer.getvalue(), None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    sample.unlink()
    return {"rows": len(frame), "seconds": elapsed, "cpu_seconds": cpu}


def child(rows: int, people: int, workdir: Path) -> dict:
    """Make a source of ``rows`` rows, then extract it in a fresh Python process."""
    source = workdir / f"care-{rows}.parquet"
    generated = make_source(source, rows, people)
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.extract", "--child", str(source),
         "--workdir", str(workdir / f"run-{rows}")],
        check=True, capture_output=True, text=True).stdout
    result = json.loads(output)
    result["generate_seconds"] = generated
    result["source_bytes"] = source.stat().st_size
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--small", type=int, default=SMALL)
    parser.add_argument("--baseline-rows", type=int, default=BASELINE_ROWS)
    parser.add_argument("--people", type=int, default=PEOPLE,
                        help="distinct beneficiaries (prescribers: one per 25)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_extract(args.child, args.workdir)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        small = child(args.small, args.people, workdir)
        large = child(args.rows, args.people, workdir)
        baseline = run_baseline(workdir / f"care-{args.small}.parquet", args.baseline_rows)

    def rate(result: dict, clock: str = "seconds") -> float:
        return result["rows"] / result[clock]

    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, "
          f"{args.people:,} people")
    for label, result in (("small", small), ("large", large)):
        print(f"extract {result['rows']:>11,} rows: {result['seconds']:7.2f} s "
              f"{rate(result):>12,.0f} rows/s ({rate(result, 'cpu_seconds'):,.0f} per CPU s)   "
              f"peak RSS {result['maxrss_mib']:4.0f} MiB (Arrow {result['arrow_peak_mib']:.0f})  "
              f"ciphertext {result['ciphertext_bytes'] / 2**20:.0f} MiB  "
              f"source {result['source_bytes'] / 2**20:.0f} MiB generated in "
              f"{result['generate_seconds']:.1f} s ({label})")
    print(f"baseline {baseline['rows']:>10,} rows: {baseline['seconds']:7.2f} s "
          f"{rate(baseline):>12,.0f} rows/s ({rate(baseline, 'cpu_seconds'):,.0f} per CPU s)   "
          "(pandas apply, HMAC per cell, sample)")
    for label, clock in (("wall", "seconds"), ("CPU", "cpu_seconds")):
        print(f"ratio extract/baseline ({label} time): "
              f"{rate(large, clock) / rate(baseline, clock):.1f}x at {large['rows']:,} rows, "
              f"{rate(small, clock) / rate(baseline, clock):.1f}x at {small['rows']:,} rows")
    for label, figure in (("peak RSS", "maxrss_mib"), ("Arrow peak allocation", "arrow_peak_mib")):
        print(f"{label}: {large[figure]:.0f} MiB at {large['rows']:,} rows vs "
              f"{small[figure]:.0f} MiB at {small['rows']:,} rows "
              f"(ratio {large[figure] / small[figure]:.2f} for "
              f"{large['rows'] / small['rows']:.0f}x the rows)")


if __name__ == "__main__":
    main()
