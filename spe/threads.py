"""Thread utilities: a read-ahead shared by the extract pipeline and the audit verifier
(kept apart from both so that neither imports the other's dependencies), and the stop event
of a long-running command."""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Iterator
from typing import Any

_END = object()
_POLL_SECONDS = 0.05


def read_ahead(items: Iterator[Any], name: str = "read-ahead") -> Iterator[Any]:
    """``items``, produced one ahead in a thread. An error on either side stops both; the
    thread never outlives the iteration, and ``items`` is closed by the thread that used it.
    A stage chained between two read-aheads must close its own input when it stops (``with
    contextlib.closing(items)``), so that the chain stops link by link."""
    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            hand_over(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def stop_on_signals(stop: threading.Event, *signals: signal.Signals) -> None:
    """Set ``stop`` when one of ``signals`` arrives. Not from the handler itself: Python
    runs it in the main thread, which may be inside ``stop.wait()`` holding the event's
    lock, and ``set`` would then wait for that lock forever (a process that ignores
    SIGTERM). A thread sets it once the main thread lets go."""
    def handle(_signum: int, _frame) -> None:
        threading.Thread(target=stop.set, name="stop", daemon=True).start()

    for sig in signals:
        signal.signal(sig, handle)
