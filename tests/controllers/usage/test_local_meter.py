"""The local meter accounts a workload of known CPU time within 10 %, children that exit
between samples included, and attributes it to the member whose server ran it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from controllers.usage.local import LocalUsageMeter
from spe.domain.usage import PROJECT

# A server-like parent: runs a kernel-like child that burns CPU and exits between samples,
# a short child no sample can see, burns CPU itself, then reports the CPU time the OS
# charged to it and its reaped children, and waits to be told to exit.
WORKLOAD = r"""
import resource, subprocess, sys, time
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"
subprocess.run([sys.executable, "-c", BURN.format(s=1.2)], check=True)
subprocess.run([sys.executable, "-c", BURN.format(s=0.05)], check=True)
exec(BURN.format(s=0.8))
own = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, flush=True)
sys.stdin.read()
"""


def _start(project_dir, user: str | None) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "SPE_WORKSPACE": str(project_dir)}
    if user:
        env["JUPYTERHUB_USER"] = user
    return subprocess.Popen([sys.executable, "-c", WORKLOAD], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def _run(meter: LocalUsageMeter, workload: subprocess.Popen) -> tuple[float, dict]:
    """Sample every 0.1 s until the workload reports; returns (its CPU seconds, sums)."""
    sums: dict[tuple[str, str], float] = {}
    reported: list[str] = []
    reader = threading.Thread(target=lambda: reported.append(workload.stdout.readline()))
    reader.start()
    deadline = time.monotonic() + 120
    while reader.is_alive() and time.monotonic() < deadline:
        for s in meter.sample():
            sums[(s.project_id, s.member)] = sums.get((s.project_id, s.member), 0) + s.cpu_seconds
        time.sleep(0.1)
    for s in meter.sample():  # one more look while it still runs
        sums[(s.project_id, s.member)] = sums.get((s.project_id, s.member), 0) + s.cpu_seconds
    return float(reported[0]), sums


@pytest.fixture
def projects(tmp_path):
    (tmp_path / "projects" / "p-usage").mkdir(parents=True)
    return tmp_path / "projects"


def test_a_workload_of_known_cpu_time_is_accounted_within_ten_percent(projects):
    meter = LocalUsageMeter(projects, storage=False)
    workload = _start(projects / "p-usage", "alice")
    try:
        used, sums = _run(meter, workload)
    finally:
        workload.communicate("")
    assert used >= 2.0
    accounted = sums[("p-usage", "alice")]
    assert accounted == pytest.approx(used, rel=0.10), (accounted, used)
    assert set(sums) == {("p-usage", "alice")}


def test_processes_without_a_user_are_the_projects_and_unmarked_ones_are_ignored(projects):
    meter = LocalUsageMeter(projects, storage=False)
    hub = _start(projects / "p-usage", None)
    stranger = _start(projects.parent / "elsewhere", "bob")
    try:
        used, sums = _run(meter, hub)
    finally:
        hub.communicate("")
        stranger.communicate("")
    assert sums[("p-usage", PROJECT)] == pytest.approx(used, rel=0.10)
    assert not any(member == "bob" for _, member in sums)


def test_processes_running_before_the_meter_are_counted_from_its_first_look(projects):
    workload = _start(projects / "p-usage", "alice")
    try:
        assert float(workload.stdout.readline()) >= 2.0  # all its work done before the meter
        meter = LocalUsageMeter(projects, storage=False)
        first = meter.sample()
        time.sleep(0.3)
        second = meter.sample()
    finally:
        workload.communicate("")
    assert sum(s.cpu_seconds for s in first + second) < 0.2
    assert [s.memory_bytes > 0 for s in second] == [True]


def test_storage_is_each_members_home_the_projects_folders_and_the_extract(projects):
    project = projects / "p-usage"
    for path, size in (("users/alice/outputs/a.bin", 300_000), ("users/bob/b.bin", 100_000),
                       ("shared/s.bin", 50_000), ("extract/e.bin", 700_000)):
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_bytes(os.urandom(size))
    (project / "users" / "alice" / "data").symlink_to("../../extract")  # not counted twice
    by_member = {s.member: s for s in LocalUsageMeter(projects).sample()}
    assert 300_000 <= by_member["alice"].storage_bytes < 400_000
    assert 100_000 <= by_member["bob"].storage_bytes < 150_000
    assert 50_000 <= by_member[PROJECT].storage_bytes < 100_000
    assert 700_000 <= by_member[PROJECT].extract_bytes < 800_000
    assert by_member[PROJECT].extract_copies == 1  # alice's data/ is a link to it


def test_an_empty_extract_is_no_copy(projects):
    (projects / "p-empty" / "extract" / "sub").mkdir(parents=True)
    [project] = [s for s in LocalUsageMeter(projects).sample() if s.project_id == "p-empty"]
    assert project.extract_copies == 0 and project.extract_bytes == 0
