"""Command-line start-up, beside the interpreter's own start measured in the same run.

    python -m benchmarks.cli [--runs N]

Each command runs N times in a fresh process (as a person typing it would); the figure is
the median wall-clock time (and CPU time, steadier on a busy machine), and its excess over
``python -c pass``:

- ``spe --help`` (target < 0.3 s);
- ``spe egress check`` of one small CSV (target < 1.0 s: it loads pandas and the SDC engine).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"spe --help": 0.3, "spe egress check small.csv": 1.0}


def timed(argv: list[str], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU (user + system) seconds of ``argv`` in a fresh process."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    spe = [sys.executable, "-m", "spe"]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "small.csv"
        csv.write_text("region,count\nnorth,120\nsouth,85\n")
        check = [*spe, "egress", "check", str(csv)]
        if subprocess.run(check, capture_output=True, check=False).returncode != 0:
            sys.exit("spe egress check of the small CSV did not pass")
        (base, base_cpu) = timed([sys.executable, "-c", "pass"], args.runs)
        figures = {"spe --help": timed([*spe, "--help"], args.runs),
                   "spe egress check small.csv": timed(check, args.runs)}
    print(f"python -c pass: {base:.3f} s wall, {base_cpu:.3f} s CPU (medians of {args.runs})")
    for name, (seconds, cpu) in figures.items():
        verdict = "meets" if seconds < TARGETS[name] else "MISSES"
        print(f"{name}: {seconds:.3f} s wall ({seconds / base:.1f}x python -c pass, "
              f"+{seconds - base:.3f} s), {cpu:.3f} s CPU (+{cpu - base_cpu:.3f} s); "
              f"{verdict} the target < {TARGETS[name]} s")


if __name__ == "__main__":
    main()
