"""The controller's work queue: project keys waiting to be reconciled, as client-go has it.

A key is in the queue at most once, however often it is added, and is never handed to two
workers at once: a key added while a worker holds it goes back in the queue when that
worker is :meth:`~WorkQueue.done` with it, so the change that added it is not lost. A key
added ``urgent`` (a permit change, a halt) goes ahead of the others: a resync's thousands of
keys do not hold a halt back.
:meth:`~WorkQueue.add_after` holds a key back until a delay has passed (a retry, a permit
that starts tomorrow); :class:`Backoff` gives each key's retry delay, doubling with each
failure of that key alone, so one failing project never slows the others.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Hashable


class WorkQueue:
    def __init__(self) -> None:
        self._ready: deque[Hashable] = deque()
        self._queued: set[Hashable] = set()  # in _ready, or to be once its worker is done
        self._processing: set[Hashable] = set()
        self._urgent: set[Hashable] = set()  # queued keys to put at the front
        self._delayed: list[tuple[float, int, Hashable]] = []  # (due, order, key)
        self._due: dict[Hashable, float] = {}  # each delayed key's earliest due time
        self._order = 0
        self._closed = False
        self._changed = threading.Condition()

    def add(self, key: Hashable, urgent: bool = False) -> None:
        """Reconcile ``key`` as soon as a worker is free (once, however often added);
        ``urgent``: before every key not urgent."""
        with self._changed:
            self._add(key, urgent)

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (at once if ``delay <= 0``)."""
        with self._changed:
            if delay <= 0:
                self._add(key)
                return
            due = time.monotonic() + delay
            if self._due.get(key, due + 1) <= due:
                return  # already held back, to an earlier time
            self._due[key] = due
            self._order += 1
            heapq.heappush(self._delayed, (due, self._order, key))
            self._changed.notify()

    def get(self, timeout: float | None = None) -> Hashable | None:
        """The next key to work on (the caller then holds it until :meth:`done`); ``None``
        after ``timeout`` seconds with nothing due, or once the queue is shut down."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                self._promote_due()
                if self._closed:
                    return None
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return None
                until = [t for t in (self._next_due(), deadline) if t is not None]
                self._changed.wait(min(until) - now if until else None)

    def done(self, key: Hashable) -> None:
        """The worker is finished with ``key``; if it was added meanwhile, it is queued."""
        with self._changed:
            self._processing.discard(key)
            if key in self._queued:
                self._enqueue(key)

    def shut_down(self) -> None:
        """Wake every waiting worker with ``None``; nothing more is handed out."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def __len__(self) -> int:
        """Keys waiting now (not the delayed ones, nor those being worked on)."""
        with self._changed:
            return len(self._ready)

    def _add(self, key: Hashable, urgent: bool = False) -> None:
        if urgent:
            self._urgent.add(key)
        if key in self._queued:
            if urgent and key in self._ready:  # already waiting: moves to the front
                self._urgent.discard(key)
                self._ready.remove(key)
                self._ready.appendleft(key)
            return
        self._queued.add(key)
        if key not in self._processing:
            self._enqueue(key)

    def _enqueue(self, key: Hashable) -> None:
        if key in self._urgent:
            self._urgent.discard(key)
            self._ready.appendleft(key)
        else:
            self._ready.append(key)
        self._changed.notify()

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            due, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) == due:  # else superseded by an earlier time
                del self._due[key]
                self._add(key)

    def _next_due(self) -> float | None:
        return self._delayed[0][0] if self._delayed else None


class Backoff:
    """Each key's retry delay: ``base``, then doubled per consecutive failure, at most
    ``cap``; :meth:`forget` starts the key over once it succeeds."""

    def __init__(self, base: float = 1.0, cap: float = 300.0) -> None:
        self.base, self.cap = base, cap
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def next_delay(self, key: Hashable) -> float:
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        return min(self.cap, self.base * 2 ** failures)

    def failures(self, key: Hashable) -> int:
        with self._lock:
            return self._failures.get(key, 0)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)
