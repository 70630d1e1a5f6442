import pytest

from controllers.runtimes.kubernetes.client import KubeRetryableError
from controllers.runtimes.kubernetes.lease import LeaseLock, micro_time

PATH = "/apis/coordination.k8s.io/v1/namespaces/spe/leases/spe-controller"


class Clock:
    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def candidates(kube, fake_api, clock):
    fake_api.put_object("/api/v1/namespaces/spe", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": "spe"}})
    return [LeaseLock(kube, "spe", "spe-controller", name, duration_seconds=15, clock=clock)
            for name in ("controller-a", "controller-b")]


def test_first_candidate_creates_the_lease_and_leads(candidates, fake_api, clock):
    a, b = candidates
    assert a.try_acquire_or_renew() and a.is_leader
    assert not b.try_acquire_or_renew() and not b.is_leader
    spec = fake_api.get_object(PATH)["spec"]
    assert spec["holderIdentity"] == "controller-a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == micro_time(clock.now)
    create = next(r for r in fake_api.requests if r.method == "POST")
    assert create.path == "/apis/coordination.k8s.io/v1/namespaces/spe/leases"


def test_the_holder_renews_with_optimistic_concurrency(candidates, fake_api, clock):
    a, _ = candidates
    a.try_acquire_or_renew()
    version = fake_api.get_object(PATH)["metadata"]["resourceVersion"]
    clock.now += 5
    assert a.try_acquire_or_renew()
    put = [r for r in fake_api.requests if r.method == "PUT"][-1]
    assert put.body["metadata"]["resourceVersion"] == version
    assert fake_api.get_object(PATH)["spec"]["renewTime"] == micro_time(clock.now)


def test_the_other_takes_over_only_after_expiry(candidates, fake_api, clock):
    a, b = candidates
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b first sees a's record now
    clock.now += 14
    assert not b.try_acquire_or_renew()
    clock.now += 1  # a has not renewed for a whole lease duration
    assert b.try_acquire_or_renew() and b.is_leader
    spec = fake_api.get_object(PATH)["spec"]
    assert spec["holderIdentity"] == "controller-b"
    assert spec["leaseTransitions"] == 1
    assert not a.is_leader  # a's own renewal is too old
    assert not a.try_acquire_or_renew()


def test_a_renewing_leader_keeps_the_lease(candidates, clock):
    a, b = candidates
    for _ in range(5):
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
        clock.now += 10


def test_of_two_racing_writers_one_wins(candidates, fake_api, clock):
    a, b = candidates
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    clock.now += 20
    fake_api.fail_next("PUT", 409)  # a renewed between b's read and b's write
    assert not b.try_acquire_or_renew() and not b.is_leader


def test_release_frees_the_lease_at_once(candidates, fake_api, clock):
    a, b = candidates
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader
    assert "holderIdentity" not in fake_api.get_object(PATH)["spec"]
    assert b.try_acquire_or_renew()
    b.release()
    before = len(fake_api.requests)
    a.release()  # not the holder: nothing is written
    assert [r.method for r in fake_api.requests[before:]] == ["GET"]


def test_other_failures_propagate(candidates, fake_api):
    a, _ = candidates
    fake_api.fail_next("POST", 503)
    with pytest.raises(KubeRetryableError):
        a.try_acquire_or_renew()


def test_an_identity_is_required(kube):
    with pytest.raises(ValueError, match="identity"):
        LeaseLock(kube, "spe", "lease", "")
