"""The reconciler at scale: the Kubernetes runtime against the recording fake API server.

    python -m benchmarks.reconcile [--projects 10 2000] [--changes 5]

For each number of projects, in a fresh SQLite database (each permit granted through the
permit lifecycle, audited) and a fresh fake API server, with the real controller (work
queue, 4 workers, change feed) running in threads:

1. provisioning: every project applied for the first time (a resync);
2. the baseline, a full pass as the reconciler made every 2 s before the work queue:
   every object of every project applied again (``reapply_seconds = 0``);
3. the steady-state resync: every project reconciled, its spec unchanged (target < 10 s at
   2,000 projects);
   then a second full pass, during which (a second into it) one permit is suspended and
   resumed, woken: a change goes ahead of the pass's keys in the queue;
4. single permit changes, alternately a suspension (the kill switch: the hub's Deployment
   scaled to 0) and a resumption (every object applied again), timed from the commit to the
   object changed in the API server: woken (the embedded platform, where the route wakes the
   controller) and polled (a separate controller process reading the change feed every
   ``SPE_RECONCILE_INTERVAL_SECONDS``, 0.5 s); target < 1 s at 2,000 projects as at 10.

No data plane: the projects have no extract (its preparation is the data plane's own
benchmark, benchmarks/extract.py). The fake API server runs in this process and answers in
about 0.6 ms; a real one adds network latency to each request, which is why the steady state
reads two objects and a list per project where the baseline makes some seventy requests.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kubernetes import client as k8s

from controllers.controller import Controller
from controllers.reconciler import Reconciler
from controllers.runtimes.kubernetes import ClusterSettings, KubeClient, KubernetesRuntime
from spe import migrations
from spe.crypto.secretbox import SecretBox
from spe.db import make_engine, session_scope
from spe.domain import permit_lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import project_of
from spe.domain.roles import Role
from spe.settings import Settings
from testsupport.factories import make_dataset, permit_body
from testsupport.kubeapi import FakeApiServer, serve

PM = Principal(user_id=None, subject="pm", roles=frozenset({Role.permit_manager}),
               via="system")
CLUSTER = ClusterSettings(api_server_cidrs=("10.96.0.1/32",), ingress_domain="ws.example.org",
                          plaintext_work_areas=True)  # no data plane here, so no key
RESYNC_TARGET = 10.0
CHANGE_TARGET = 1.0


class Bench:
    """A database of ``n`` projects, a fake API server, the controller running."""

    def __init__(self, root: Path, n: int) -> None:
        self.settings = Settings(data_dir=root, public_url="https://spe.example.org")
        self.engine = make_engine(f"sqlite:///{root / 'spe.db'}")
        migrations.upgrade(self.engine)
        dataset = make_dataset(self.engine)
        self.permits: list[tuple[str, str]] = []  # (permit id, project id)
        started = time.perf_counter()
        for i in range(n):
            body = permit_body(dataset, [f"user{i % 50}"], reference=f"BENCH-{i:05d}", days=90)
            with session_scope(self.engine) as session:
                permit = permit_lifecycle.create_permit(session, PermitCreate(**body), PM)
                self.permits.append((permit.id, project_of(session, permit.id).id))
        self.grant_seconds = time.perf_counter() - started
        self.api = FakeApiServer()
        self.server = serve(self.api)
        self.api_client = k8s.ApiClient(k8s.Configuration(host=self.api.url))
        self.runtime = KubernetesRuntime(CLUSTER, KubeClient(self.api_client, timeout=30))
        box = SecretBox.load_or_create(root / "secrets.key")
        self.controller = Controller(Reconciler(self.engine, self.runtime, self.settings, box),
                                     poll_seconds=self.settings.reconcile_interval_seconds,
                                     resync_seconds=86400.0, workers=4)
        self.done: list[tuple[str, float]] = []
        process = self.controller.process

        def timed(project_id: str):
            result = process(project_id)
            self.done.append((project_id, time.perf_counter()))
            return result

        self.controller.process = timed
        self.stop, self.wake = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self.controller.run, args=(self.stop, self.wake),
                                       daemon=True)

    def start(self) -> float:
        """Start the controller; its first resync provisions everything. Seconds taken."""
        started = time.perf_counter()
        self.thread.start()
        return self._all_done_after(started)

    def resync(self, during=None) -> float:
        """A resync; ``during()`` is called a second after it starts. Seconds taken."""
        started = time.perf_counter()
        self.controller.resync()
        if during is not None:
            time.sleep(1.0)
            during()
        return self._all_done_after(started)

    def _all_done_after(self, started: float) -> float:
        """Seconds until every project was reconciled once after ``started``."""
        wanted = {project for _, project in self.permits}
        while True:
            first: dict[str, float] = {}
            for project, at in list(self.done):
                if at >= started:
                    first.setdefault(project, at)
            if wanted <= first.keys():
                return max(first.values()) - started
            time.sleep(0.01)

    def change(self, permit_id: str, project_id: str, suspend: bool, wake: bool) -> float:
        """Seconds from the committed change to the hub's Deployment changed in the API."""
        hub = f"/apis/apps/v1/namespaces/{CLUSTER.namespace(project_id)}/deployments/hub"
        wanted = 0 if suspend else 1
        with session_scope(self.engine) as session:
            if suspend:
                permit_lifecycle.suspend_permit(session, permit_id, "benchmark", PM)
            else:
                permit_lifecycle.resume_permit(session, permit_id, "benchmark", PM)
        started = time.perf_counter()
        if wake:
            self.wake.set()
        while True:
            with self.api.lock:
                replicas = (self.api.get_object(hub) or {}).get("spec", {}).get("replicas")
            if replicas == wanted:
                reflected = time.perf_counter()
                break
            time.sleep(0.002)
        while not any(p == project_id and at >= reflected for p, at in list(self.done)):
            time.sleep(0.002)  # the reconcile's end (its observation recorded), untimed
        return reflected - started

    def close(self) -> None:
        self.stop.set()
        self.wake.set()
        self.thread.join(60)
        self.api_client.close()
        self.server.shutdown()
        self.server.server_close()
        self.engine.dispose()


def run(n: int, changes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="spe-reconcile-") as tmp:
        bench = Bench(Path(tmp), n)
        try:
            figures = {"projects": n, "grant": bench.grant_seconds, "provision": bench.start()}
            bench.runtime.reapply_seconds = 0
            requests = len(bench.api.requests)
            figures["full pass"] = bench.resync()
            figures["full pass requests"] = len(bench.api.requests) - requests
            permit, project = bench.permits[n // 2]
            during = []  # a halt (and its end) while a full pass's keys fill the queue

            def halt():
                during.append(bench.change(permit, project, suspend=True, wake=True))
                during.append(bench.change(permit, project, suspend=False, wake=True))

            bench.resync(during=halt)
            figures["during"] = during
            bench.runtime.reapply_seconds = 3600.0
            requests = len(bench.api.requests)
            figures["steady resync"] = bench.resync()
            figures["steady requests"] = len(bench.api.requests) - requests
            for wake in (True, False):
                times = []
                for i in range(changes):
                    permit, project = bench.permits[(i * 7919) % n]
                    times.append(bench.change(permit, project, suspend=True, wake=wake))
                    times.append(bench.change(permit, project, suspend=False, wake=wake))
                figures["woken" if wake else "polled"] = times
        finally:
            bench.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, nargs="+", default=[10, 2000])
    parser.add_argument("--changes", type=int, default=5,
                        help="suspend + resume pairs per way of hearing of them")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = datetime.now(UTC)
    results = [run(n, args.changes) for n in args.projects]
    print(f"# reconcile benchmark, {started:%Y-%m-%d %H:%M} UTC, "
          f"{timedelta(seconds=round((datetime.now(UTC) - started).total_seconds()))}")
    for r in results:
        n = r["projects"]
        print(f"\n{n} projects (granted in {r['grant']:.1f} s)")
        print(f"  provisioning pass       {r['provision']:8.2f} s")
        print(f"  full pass (baseline)    {r['full pass']:8.2f} s  "
              f"{r['full pass requests']:>7} requests")
        print(f"  steady-state resync     {r['steady resync']:8.2f} s  "
              f"{r['steady requests']:>7} requests  "
              f"= {r['steady resync'] / r['full pass']:.3f}x the full pass  "
              f"(target < {RESYNC_TARGET:.0f} s at 2,000: "
              f"{'✔' if r['steady resync'] < RESYNC_TARGET else '✘'})")
        print(f"  a halt and its end during a full pass, woken: "
              f"{' and '.join(f'{t:.3f} s' for t in r['during'])}")
        for way in ("woken", "polled"):
            times = r[way]
            print(f"  one permit change, {way:<6} median {statistics.median(times):6.3f} s  "
                  f"max {max(times):6.3f} s  = {max(times) / r['full pass']:.4f}x the full "
                  f"pass  (target < {CHANGE_TARGET:.0f} s: "
                  f"{'✔' if max(times) < CHANGE_TARGET else '✘'})")
    if len(results) > 1:
        small, large = results[0], results[-1]
        for way in ("woken", "polled"):
            print(f"change latency, {way}, {large['projects']} vs {small['projects']} projects: "
                  f"median {statistics.median(large[way]) / statistics.median(small[way]):.2f}x")


if __name__ == "__main__":
    main()
