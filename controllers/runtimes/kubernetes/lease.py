"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go does it.

One Lease names the leader (``holderIdentity``) and when it last renewed (``renewTime``).
Every candidate calls :meth:`LeaseLock.try_acquire_or_renew` every few seconds: the holder
renews; the others take over only once the record has stayed unchanged for
``leaseDurationSeconds`` *as measured on their own clock* (so clock skew between nodes does
not matter). Every write carries the ``resourceVersion`` it read: of two candidates racing
for an expired lease, the API server accepts one and answers 409 to the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from controllers.runtimes.kubernetes.client import KubeClient, KubeRetryableError, Resource

LEASE = Resource("coordination.k8s.io/v1", "Lease", "leases")


def micro_time(seconds: float) -> str:
    """Kubernetes ``MicroTime``: RFC 3339 UTC with microseconds."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseLock:
    """One candidate's view of the leader lease ``namespace/name``."""

    def __init__(self, client: KubeClient, namespace: str, name: str, identity: str,
                 duration_seconds: int = 15, clock: Callable[[], float] = time.time):
        if not identity:
            raise ValueError("a lease candidate needs a non-empty identity")
        self.client = client
        self.path = LEASE.path(namespace, name)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration = duration_seconds
        self.clock = clock
        self._seen: tuple[Any, ...] | None = None  # the record as last read
        self._seen_at = 0.0  # when (our clock) that record last changed
        self._renewed_at: float | None = None  # when we last held it for sure

    @property
    def is_leader(self) -> bool:
        """We hold the lease and our last renewal is younger than its duration."""
        return self._renewed_at is not None and self.clock() < self._renewed_at + self.duration

    def try_acquire_or_renew(self) -> bool:
        """Renew the lease if ours, take it if free or expired; whether we now lead."""
        now = self.clock()
        lease = self.client.get(self.path)
        try:
            if lease is None:
                written = self.client.create(LEASE.path(self.namespace), self._new(now))
            else:
                spec = lease.get("spec", {})
                holder = spec.get("holderIdentity")
                self._observe(spec, now)
                if holder and holder != self.identity and not self._expired(now):
                    self._renewed_at = None
                    return False
                written = self.client.replace(self.path, self._take(lease, now))
        except KubeRetryableError as exc:
            if exc.status != 409:
                raise
            self._renewed_at = None  # another candidate wrote first
            return False
        self._observe(written["spec"], now)
        self._renewed_at = now
        return True

    def release(self) -> None:
        """Give the lease up now (on shutdown) so another candidate need not wait it out."""
        lease = self.client.get(self.path)
        self._renewed_at = None
        if lease is None or lease.get("spec", {}).get("holderIdentity") != self.identity:
            return
        spec = {**lease["spec"], "leaseDurationSeconds": 1, "renewTime": micro_time(self.clock())}
        spec.pop("holderIdentity")
        try:
            self.client.replace(self.path, {**lease, "spec": spec})
        except KubeRetryableError as exc:
            if exc.status != 409:  # someone else already holds it: nothing to release
                raise

    def _observe(self, spec: dict[str, Any], now: float) -> None:
        record = (spec.get("holderIdentity"), spec.get("renewTime"),
                  spec.get("leaseDurationSeconds"))
        if record != self._seen:
            self._seen, self._seen_at = record, now

    def _expired(self, now: float) -> bool:
        duration = (self._seen or (None, None, None))[2] or self.duration
        return now >= self._seen_at + duration

    def _new(self, now: float) -> dict[str, Any]:
        return {
            "apiVersion": LEASE.api_version, "kind": LEASE.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                     "acquireTime": micro_time(now), "renewTime": micro_time(now),
                     "leaseTransitions": 0},
        }

    def _take(self, lease: dict[str, Any], now: float) -> dict[str, Any]:
        """``lease`` renewed by us (same resourceVersion: the write fails if it moved on)."""
        spec = dict(lease.get("spec", {}))
        if spec.get("holderIdentity") != self.identity:
            spec["holderIdentity"] = self.identity
            spec["acquireTime"] = micro_time(now)
            spec["leaseTransitions"] = spec.get("leaseTransitions", 0) + 1
        spec["leaseDurationSeconds"] = self.duration
        spec["renewTime"] = micro_time(now)
        return {**lease, "apiVersion": LEASE.api_version, "kind": LEASE.kind, "spec": spec}
