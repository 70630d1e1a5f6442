"""Command-line start-up, beside the interpreter's own start measured in the same run.

    python -m benchmarks.cli [--runs N]

Each command runs N times in a fresh process (as a person typing it would), the commands
taking turns so that the machine's load falls on each alike; the figure is the median
wall-clock time (and CPU time, steadier on a busy machine), and its excess over
``python -c pass``:

- ``spe --help`` (target < 0.3 s);
- ``spe egress check`` of one small CSV (target < 1.0 s: it loads numpy and the SDC engine).

The load average before and after is printed: a wall-clock figure says little without it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"spe --help": 0.3, "spe egress check small.csv": 1.0}


def run(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of ``argv`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def timed(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU seconds of each command, the commands taking turns."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(run(argv))
    return {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for name, s in samples.items()}


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


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
        started = load()
        figures = timed({"python -c pass": [sys.executable, "-c", "pass"],
                         "spe --help": [*spe, "--help"],
                         "spe egress check small.csv": check}, args.runs)
    base, base_cpu = figures.pop("python -c pass")
    print(f"load average (1, 5, 15 min): {started} before, {load()} after, "
          f"on {os.cpu_count()} cores")
    print(f"python -c pass: {base:.3f} s wall, {base_cpu:.3f} s CPU (medians of {args.runs})")
    for name, (seconds, cpu) in figures.items():
        verdict = "meets" if seconds < TARGETS[name] else "MISSES"
        print(f"{name}: {seconds:.3f} s wall ({seconds / base:.1f}x python -c pass, "
              f"+{seconds - base:.3f} s), {cpu:.3f} s CPU (+{cpu - base_cpu:.3f} s); "
              f"{verdict} the target < {TARGETS[name]} s")


if __name__ == "__main__":
    main()
