"""The output checker's console pages: server time of a request view and of the queue.

    python -m benchmarks.console [--files 20] [--rows 5000] [--open 1000] [--repeat 20]

A request of 20 CSV files of 5,000 rows each: ``GET /console/review/{id}`` (every file read
from quarantine, hash-checked, parsed, its flags placed and rendered; audited). Baseline,
same run: the API's JSON view of the request plus each file's bytes through the API's
content route (what any client showing the files must fetch). The queue with 1,000 open
requests: ``GET /console/review``; baseline, the API's list of the same requests (500 a
page). Targets (issue 14): request view p95 < 300 ms, queue p95 < 200 ms, server time; and
the request view's first contentful paint in Chromium (Debian's, through a real HTTP server)
< 1 s, beside the paint of the sign-in page as its baseline.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from benchmarks.egress_request import bearer, csv_table, post_request
from spe import migrations
from spe.db import make_engine
from spe.domain.roles import Role
from spe.settings import Settings
from spe.storage.local import LocalObjectStore
from spe.web import create_app
from testsupport.factories import make_dataset, make_user, permit_body
from testsupport.live_server import serving
from testsupport.platform import swap

VIEW_TARGET, QUEUE_TARGET, PAINT_TARGET = 0.300, 0.200, 1.0
CHROMIUM = "/usr/bin/chromium"
FCP = """new Promise(resolve => new PerformanceObserver(list => {
  const paint = list.getEntriesByName("first-contentful-paint")[0];
  if (paint) resolve(paint.startTime);
}).observe({type: "paint", buffered: true}))"""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update"]


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def timed(call, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = call()
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:300]
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--open", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="spe-bench-") as tmp:
        root = Path(tmp)
        engine = make_engine(f"sqlite:///{root / 'spe.db'}")
        migrations.upgrade(engine)
        SQLModel.metadata.create_all(engine)
        app = create_app(Settings(data_dir=root / "data"), engine)
        swap(app, object_store=LocalObjectStore(root / "objects"))
        with TestClient(app) as client:
            rid, checker_token = run(client, engine, args)
        with serving(app) as url:
            paint(url, rid, checker_token, args.repeat)
        engine.dispose()


def run(client: TestClient, engine, args) -> tuple[str, str]:
    researcher, token = make_user(engine, Role.researcher)
    _, manager = make_user(engine, Role.permit_manager)
    checker_token = make_user(engine, Role.output_checker)[1]
    checker = bearer(checker_token)
    project = client.post("/api/v1/permits", headers=bearer(manager), json=permit_body(
        make_dataset(engine), [researcher])).json()["project_id"]
    files = [(f"table_{i:02d}.csv", csv_table(args.rows, i)) for i in range(args.files)]
    request = post_request(client, project, token, files)
    rid = request["id"]

    view = timed(lambda: client.get(f"/console/review/{rid}", headers=checker), args.repeat)

    def api_view():
        response = client.get(f"/api/v1/egress/requests/{rid}", headers=checker)
        for file in request["files"]:
            client.get(f"/api/v1/egress/requests/{rid}/files/{file['id']}/content",
                       headers=checker).raise_for_status()
        return response

    view_base = timed(api_view, args.repeat)

    for i in range(args.open - 1):
        post_request(client, project, token, [("n.csv", csv_table(20, 10_000 + i))])

    queue = timed(lambda: client.get("/console/review", headers=checker), args.repeat)

    def api_queue():
        response, after = None, None
        while True:
            response = client.get("/api/v1/egress/requests", headers=checker,
                                  params={"limit": 500, **({"cursor": after} if after else {})})
            after = response.json()["next"]
            if not after:
                return response

    queue_base = timed(api_queue, args.repeat)
    print(f"console: request of {args.files} CSV x {args.rows} rows; queue of {args.open} "
          f"open requests; {args.repeat} runs each, server time through TestClient")
    for name, got, base, target in [("request view", view, view_base, VIEW_TARGET),
                                    ("queue", queue, queue_base, QUEUE_TARGET)]:
        print(f"  {name}: p95 {p95(got) * 1000:.0f} ms (median {statistics.median(got) * 1000:.0f}"
              f" ms); baseline API p95 {p95(base) * 1000:.0f} ms; ratio "
              f"{p95(got) / p95(base):.1f}x; target < {target * 1000:.0f} ms: "
              f"{'met' if p95(got) < target else 'MISSED'}")
    return rid, checker_token


def first_paint(page, url: str) -> float:
    page.goto(url)
    return page.evaluate(FCP) / 1000


def paint(url: str, rid: str, token: str, repeat: int) -> None:
    """First contentful paint of the request view in Chromium, signed in as the checker."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.goto(f"{url}/auth/login")
            page.fill("input[name=token]", token)
            page.locator("form[action*=token-login] [type=submit]").click()
            page.wait_for_load_state()
            view = [first_paint(page, f"{url}/console/review/{rid}") for _ in range(repeat)]
            base = [first_paint(page, f"{url}/auth/login") for _ in range(repeat)]
        finally:
            browser.close()
    print(f"  request view first contentful paint (Chromium): p95 {p95(view) * 1000:.0f} ms "
          f"(median {statistics.median(view) * 1000:.0f} ms); baseline sign-in page p95 "
          f"{p95(base) * 1000:.0f} ms; target < {PAINT_TARGET * 1000:.0f} ms: "
          f"{'met' if p95(view) < PAINT_TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
