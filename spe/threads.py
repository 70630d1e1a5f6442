"""A thread utility shared by the extract pipeline and the audit verifier (kept apart from
both so that neither imports the other's dependencies)."""

from __future__ import annotations

import queue
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
