"""The compiled verifier under AddressSanitizer and UBSan (issue 20): an over-long COPY
stream from a hostile server is refused without writing past the buffer, the seeded corpus
runs clean, and a bounded fuzzing run over the COPY parser and the SQLite row path finds
nothing. ``SPE_AUDIT_FUZZ_SECONDS`` sets the run's length (default 20)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from spe.audit.scan import native_queries
from tests.audit.fuzz.inputs import copy_input, copy_messages, copy_row

HERE = Path(__file__).parent / "fuzz"
NATIVE = Path(__file__).parents[2] / "spe" / "audit"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer"]


def _libpq_include() -> str:
    found = shutil.which("pg_config") and subprocess.run(
        ["pg_config", "--includedir"], capture_output=True, text=True, check=False).stdout
    return (found or "").strip() or "/usr/include/postgresql"


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    """harness.c built with the sanitizers (the same compiler the extension needs)."""
    compiler = sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") \
        else "gcc"
    out = tmp_path_factory.mktemp("fuzz") / "harness"
    subprocess.run([compiler, *SANITIZE, "-g", "-O1", "-std=c11", "-Wall", "-Werror",
                    f"-I{NATIVE}", f"-I{_libpq_include()}", str(HERE / "harness.c"),
                    "-o", str(out), "-lpq", "-lsqlite3", "-lcrypto"], check=True)
    return out


def run(harness: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    leaves, nodes = native_queries("sqlite", 0, 4)
    env = {**os.environ, "SPE_FUZZ_LEAVES_SQL": leaves, "SPE_FUZZ_NODES_SQL": nodes,
           "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=86",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87"}
    return subprocess.run([str(harness), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def test_an_overlong_copy_stream_is_refused_without_overflow(harness, tmp_path):
    """A server (or a man in the middle) that keeps sending valid rows past the range asked
    for: the old verifier wrote each one's hash past its buffer."""
    stream = tmp_path / "overlong"
    stream.write_bytes(copy_input(copy_messages([copy_row(i) for i in range(40)])))
    result = run(harness, "run", str(stream))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "problem 4: the database sent leaves past the range asked for\n"


@pytest.mark.parametrize("version", [2, 3])
def test_valid_streams_of_both_versions_verify(harness, tmp_path, version):
    stream = tmp_path / "valid"
    stream.write_bytes(copy_input(copy_messages(
        [copy_row(i, body=bool(i % 2), version=version) for i in range(4)])))
    result = run(harness, "run", str(stream))
    assert (result.returncode, result.stdout) == (0, "ok 4\n"), result.stderr


def test_the_seeded_corpus_runs_clean(harness):
    seeds = sorted(str(p) for p in (HERE / "corpus").iterdir())
    assert len(seeds) >= 5
    result = run(harness, "run", *seeds)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == len(seeds)
    assert "ok 4" in result.stdout  # the SQLite log and the valid streams verify


def test_a_bounded_fuzzing_run_finds_nothing(harness):
    seconds = float(os.environ.get("SPE_AUDIT_FUZZ_SECONDS", "20"))
    seed = os.environ.get("SPE_AUDIT_FUZZ_SEED", "20")
    result = run(harness, "fuzz", str(seconds), seed, str(HERE / "corpus"),
                 timeout=seconds + 120)
    assert result.returncode == 0, f"seed {seed}: {result.stderr[-4000:]}"
    assert result.stdout.endswith("no finding\n")
