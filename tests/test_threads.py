"""spe.threads.stop_on_signals: a signal that arrives while the main thread holds the stop
event's lock (inside ``stop.wait()``) still stops the process; setting the event from the
handler itself hung ``spe audit signer`` and ``spe controller`` forever."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import os, signal, sys, threading
from spe.threads import stop_on_signals

stop = threading.Event()
if sys.argv[1] == "fixed":
    stop_on_signals(stop, signal.SIGTERM)
else:
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
with stop._cond:  # where stop.wait() is when it returns from a timeout
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):  # the handler runs here, in this thread, the lock held
        pass
print("stopped" if stop.wait(10) else "not stopped", flush=True)
"""


def run(variant: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, variant], capture_output=True,
                          text=True, timeout=timeout)


def test_a_signal_while_the_event_is_locked_stops_the_process():
    result = run("fixed")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stopped"


def test_setting_the_event_from_the_handler_hangs():
    """The failure the helper prevents, shown with the former code."""
    with pytest.raises(subprocess.TimeoutExpired):
        run("handler sets the event", timeout=5)
