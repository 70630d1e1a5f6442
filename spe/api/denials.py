"""Anonymous refusals, audited without letting a flood fill the log.

A request refused for want of valid credentials is audited as ``access.denied``, up to
``SPE_AUDIT_ANONYMOUS_DENIALS_PER_MINUTE`` events per client address and minute (and ten
times that in all). Past it, refusals are counted per address, and one
``access.denied.suppressed`` event per address says how many there were, when the first and
the last came and why the last was refused: written with the first refusal after the
minute, or when the application stops. The log is append-only and kept at least a year, so
a client sending bad tokens in a loop would otherwise grow it without bound. Refusals of
signed-in people are never counted away: each names an accountable person.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from spe.audit import Actor
from spe.audit.log import Draft, record_many
from spe.db import session_scope
from spe.db.types import utcnow

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000  # beyond, addresses of the minute share one count ("other")
ANONYMOUS = Actor.system("anonymous")


@dataclass
class Suppressed:
    client_addr: str
    count: int
    first: datetime
    last: datetime
    reason: str

    def draft(self) -> Draft:
        return Draft(action="access.denied.suppressed", actor=ANONYMOUS, outcome="denied",
                     client_addr=self.client_addr[:64],
                     details={"count": self.count, "first": self.first.isoformat(),
                              "last": self.last.isoformat(), "last_reason": self.reason[:500]})


class DenialBudget:
    """How many anonymous refusals to audit one by one, per address and minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.total_per_minute = 10 * per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._audited: dict[str, int] = {}
        self._total = 0  # the sum of _audited
        self._suppressed: dict[str, Suppressed] = {}

    def admit(self, client_addr: str | None, reason: str) -> tuple[bool, list[Suppressed]]:
        """Whether to audit this refusal one by one, and the counts of the minutes that
        ended (to write now)."""
        addr = client_addr or "unknown"
        with self._lock:
            ended = []
            if self._clock() - self._start >= WINDOW_SECONDS:
                ended = self._take()
                self._start = self._clock()
            if addr not in self._audited and len(self._audited) >= MAX_ADDRESSES:
                addr = "other"
            if (self._audited.get(addr, 0) < self.per_minute
                    and self._total < self.total_per_minute):
                self._audited[addr] = self._audited.get(addr, 0) + 1
                self._total += 1
                return True, ended
            now = utcnow()
            counted = self._suppressed.setdefault(addr, Suppressed(addr, 0, now, now, reason))
            counted.count += 1
            counted.last, counted.reason = now, reason
            return False, ended

    def take(self) -> list[Suppressed]:
        """The counts so far, to write when the application stops."""
        with self._lock:
            return self._take()

    def _take(self) -> list[Suppressed]:
        ended = list(self._suppressed.values())
        self._audited, self._total, self._suppressed = {}, 0, {}
        return ended


def write(engine: Engine, counts: list[Suppressed]) -> None:
    if counts:
        with session_scope(engine) as session:
            record_many(session, [c.draft() for c in counts])
