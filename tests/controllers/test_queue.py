"""The work queue: one entry per key, never one key in two workers, delays, backoff."""

from __future__ import annotations

import threading
import time

from controllers.queue import Backoff, WorkQueue


def test_a_key_added_many_times_is_queued_once():
    queue = WorkQueue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert len(queue) == 2
    assert [queue.get(0), queue.get(0), queue.get(0)] == ["a", "b", None]


def test_a_key_added_while_held_comes_back_once_done():
    queue = WorkQueue()
    queue.add("a")
    held = queue.get(0)
    queue.add("a")  # a change while a worker reconciles it
    assert queue.get(0) is None  # not handed to a second worker meanwhile
    queue.done(held)
    assert queue.get(0) == "a"


def test_an_urgent_key_goes_ahead_of_the_others():
    queue = WorkQueue()
    for key in ("a", "b", "c", "d"):
        queue.add(key)
    queue.add("c", urgent=True)  # already waiting: moves up
    queue.add("e", urgent=True)  # new: ahead of every key not urgent
    held = queue.get(0)
    assert held == "e"
    queue.add("e", urgent=True)  # a change while it is held: first again once done
    queue.done(held)
    assert [queue.get(0) for _ in range(6)] == ["e", "c", "a", "b", "d", None]


def test_add_after_waits_and_keeps_the_earliest_time():
    queue = WorkQueue()
    queue.add_after("later", 60)
    queue.add_after("soon", 0.2)
    queue.add_after("soon", 30)  # a later time does not push back an earlier one
    started = time.monotonic()
    assert queue.get(5) == "soon"
    assert 0.15 <= time.monotonic() - started < 5
    assert queue.get(0.1) is None


def test_shut_down_wakes_waiting_workers():
    queue = WorkQueue()
    got = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    queue.shut_down()
    worker.join(5)
    assert got == [None]


def test_backoff_doubles_per_key_and_starts_over_after_success():
    backoff = Backoff(base=1, cap=5)
    assert [backoff.next_delay("a") for _ in range(5)] == [1, 2, 4, 5, 5]
    assert backoff.next_delay("b") == 1  # another key is not slowed by a's failures
    backoff.forget("a")
    assert backoff.next_delay("a") == 1
