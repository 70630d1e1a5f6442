"""Server start time against the extract's size: one shared copy against a copy per start.

    python -m benchmarks.workspace_start [--sizes-gib 1 10] [--runs 3]

One project hub on the local runtime; the project's extract is grown in place to each size
(incompressible bytes in 256 MiB files). At each size, alternating, each run:

* **shared** (what spe does): alice's server is started through the hub API and the clock
  stops when ``/user/alice/api`` answers through the workspace's proxy. Her ``data/`` is the
  project's one extract (a link), so a start copies nothing. On Kubernetes the same holds
  by construction: the extract volume is written once per extract version by a Job and
  mounted read-only by every server (docs/kubernetes.md); there is no cluster here to time.
* **copy per start** (the baseline, what the former Kubernetes init container did): the
  extract is first copied into the server's own storage, then the same start. The copy is
  written and flushed (fsync) file by file and each file removed once flushed, so the disk
  never holds two copies; the time is that of writing the whole copy. The former init
  container also fetched the files over the network and decrypted them: left out here, so
  this baseline understates what a copy per start costs.

Medians are printed. Target (issue 19): the shared start flat from the smallest to the
largest size (ratio ≤ 1.2, the spread of a start on this shared machine).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.provisioning import wait_answering
from controllers.runtimes.local import LocalRuntime
from controllers.runtimes.local.layout import seal_read_only, unseal
from spe.errors import RetryableError
from workspaces.spec import HubOAuthClient, WorkspaceProfile, WorkspaceSpec

GIB = 1024 ** 3
PART = 256 * 1024 ** 2
BLOCK = 16 * 1024 ** 2
TARGET = 1.2
UNREACHABLE = "http://127.0.0.1:9"  # no control plane: audit posts fail quietly
HEADROOM = 4 * GIB


def spec(project_id: str) -> WorkspaceSpec:
    return WorkspaceSpec(
        project_id=project_id, permit_reference="BENCH", users=("alice",),
        profile=WorkspaceProfile(name="bench", image="unused", hub_image="unused",
                                 idle_timeout_seconds=0),
        oauth=HubOAuthClient("hub-bench", "secret", f"{UNREACHABLE}/oauth/authorize",
                             f"{UNREACHABLE}/oauth/token", f"{UNREACHABLE}/oauth/userinfo"),
        control_plane_url=UNREACHABLE, hub_service_token="bench-token")  # noqa: S106


def grow(extract: Path, size: int) -> None:
    """Add 256 MiB files of random bytes until ``extract`` holds ``size`` bytes."""
    unseal(extract)
    block = os.urandom(BLOCK)
    have = sum(p.stat().st_size for p in extract.iterdir())
    part = len(list(extract.iterdir()))
    while have < size:
        with open(extract / f"part-{part:04d}.bin", "wb") as out:
            for _ in range(PART // BLOCK):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        have, part = have + PART, part + 1
    seal_read_only(extract)


def copy_flushed(extract: Path, into: Path) -> None:
    into.mkdir(exist_ok=True)
    for source in sorted(extract.iterdir()):
        target = into / source.name
        with open(source, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, BLOCK)
            dst.flush()
            os.fsync(dst.fileno())
        target.unlink()  # never two copies on the disk (see the module's docstring)
    into.rmdir()


def start(runtime: LocalRuntime, project_id: str, url: str) -> float:
    started = time.perf_counter()
    # a spawn slower than the hub's slow_spawn_timeout answers 500 and goes on
    # (benchmarks.provisioning.SLOW_SPAWN): wait for the server either way
    with runtime.hub_api(project_id) as api, contextlib.suppress(RetryableError):
        api.start_server("alice")
    wait_answering(f"{url}user/alice/api")
    return time.perf_counter() - started


def stop(runtime: LocalRuntime, project_id: str) -> None:
    with runtime.hub_api(project_id) as api:
        api.stop_server("alice")
        api.wait_stopped({"alice"}, timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-gib", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = sorted(int(s * GIB) for s in args.sizes_gib)
    with tempfile.TemporaryDirectory(prefix="spe-bench-start-") as tmp:
        free = shutil.disk_usage(tmp).free
        if free < sizes[-1] + HEADROOM:
            raise SystemExit(f"{free / GIB:.1f} GiB free: {sizes[-1] / GIB + HEADROOM / GIB:.0f}"
                             " GiB needed")
        runtime = LocalRuntime(Path(tmp))
        project = "p-benchstart"
        url = runtime.ensure(spec(project)).url
        layout = runtime.layout(project)
        results: dict[int, dict[str, list[float]]] = {}
        try:
            for size in sizes:
                grow(layout.extract, size)
                shared, copied, copy_only = [], [], []
                for run in range(args.runs):
                    shared.append(start(runtime, project, url))
                    stop(runtime, project)
                    began = time.perf_counter()
                    copy_flushed(layout.extract, layout.users / "alice" / "extract-copy")
                    copy_only.append(time.perf_counter() - began)
                    copied.append(copy_only[-1] + start(runtime, project, url))
                    stop(runtime, project)
                    print(f"{size / GIB:5.1f} GiB run {run + 1}: shared {shared[-1]:6.2f} s, "
                          f"copy per start {copied[-1]:6.2f} s (copy {copy_only[-1]:.2f} s)",
                          flush=True)
                results[size] = {"shared": shared, "copied": copied, "copy": copy_only}
        finally:
            runtime.delete(project)
    report(results, args.runs)


def report(results: dict[int, dict[str, list[float]]], runs: int) -> None:
    median = {size: {k: statistics.median(v) for k, v in r.items()}
              for size, r in results.items()}
    print(f"\nserver start → JupyterLab answering, median of {runs}:")
    print(f"{'extract':>9}{'shared s':>11}{'copy per start s':>18}{'of which copy s':>17}"
          f"{'copy / shared':>15}")
    for size, m in median.items():
        print(f"{size / GIB:>7.1f} G{m['shared']:>11.2f}{m['copied']:>18.2f}{m['copy']:>17.2f}"
              f"{m['copied'] / m['shared']:>15.2f}")
    small, large = min(median), max(median)
    flat = median[large]["shared"] / median[small]["shared"]
    grows = median[large]["copied"] / median[small]["copied"]
    print(f"largest / smallest: shared {flat:.2f} (target ≤ {TARGET}) "
          f"{'✔' if flat <= TARGET else '✘'}; copy per start {grows:.2f}")


if __name__ == "__main__":
    main()
