"""The Lease lock: field values of acquire, renew and release, expiry by sighting, write races."""

from __future__ import annotations

import pytest

from reloader.errors import Conflict
from reloader.runtime.clock import FakeClock
from reloader.runtime.lease import (
    LeaseLock,
    LeaseRecord,
    LeaseTerms,
    held_spec,
    lease_seconds,
    micro_time,
    released_spec,
)
from tests.unit.runtime.leases import LeaseStore

NOW = 1_700_000_000.25
LEADER = LeaseTerms(identity="me", duration=15.0)
SLOT = LeaseTerms(identity="me", duration=30.0, count_creation=True, release_keeps_record=False)


def record(holder: str, **spec: object) -> LeaseRecord:
    meta = {"name": "l", "resourceVersion": "3"}
    return LeaseRecord.of({"metadata": meta, "spec": {"holderIdentity": holder, **spec}})


def test_micro_time_is_utc_with_microseconds() -> None:
    assert micro_time(NOW) == "2023-11-14T22:13:20.250000Z"


@pytest.mark.parametrize(
    ("duration", "seconds"), [(15.0, 15), (29.6, 30), (0.3, 1), (0.0, None), (-1.0, None)]
)
def test_lease_seconds(duration: float, seconds: int | None) -> None:
    assert lease_seconds(duration) == seconds


def test_record_of_a_lease() -> None:
    lease = {
        "metadata": {"name": "l", "resourceVersion": "9"},
        "spec": {
            "holderIdentity": "a",
            "leaseDurationSeconds": 15,
            "leaseTransitions": 2,
            "acquireTime": "t",
        },
    }
    expected = LeaseRecord("l", "a", "9", duration=15.0, transitions=2, acquire_time="t")
    assert LeaseRecord.of(lease) == expected
    assert LeaseRecord.of({}) == LeaseRecord("", "", "")


def test_creating_counts_a_transition_only_when_the_terms_say_so() -> None:
    for terms, transitions in ((LEADER, 0), (SLOT, 1)):
        spec = held_spec(None, terms, NOW)
        assert spec == {
            "holderIdentity": "me",
            "leaseDurationSeconds": round(terms.duration),
            "acquireTime": micro_time(NOW),
            "renewTime": micro_time(NOW),
            "leaseTransitions": transitions,
        }


@pytest.mark.parametrize("previous", ["", "other"])
def test_taking_a_free_or_expired_lease_is_a_transition(previous: str) -> None:
    current = record(previous, leaseTransitions=4, acquireTime="old")
    spec = held_spec(current, LEADER, NOW)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("me", 5)
    assert spec["acquireTime"] == spec["renewTime"] == micro_time(NOW)


def test_renewing_keeps_acquire_time_and_transitions() -> None:
    spec = held_spec(record("me", leaseTransitions=4, acquireTime="then"), SLOT, NOW)
    assert (spec["acquireTime"], spec["renewTime"]) == ("then", micro_time(NOW))
    assert spec["leaseTransitions"] == 4
    no_acquire_time = held_spec(record("me"), SLOT, NOW)
    assert no_acquire_time["acquireTime"] == micro_time(NOW)


def test_a_hold_that_never_expires_writes_no_duration() -> None:
    terms = LeaseTerms(identity="me", duration=0.0)
    assert "leaseDurationSeconds" not in held_spec(None, terms, NOW)


def test_release_formats() -> None:
    current = record("me", leaseTransitions=2, acquireTime="then", leaseDurationSeconds=15)
    assert released_spec(current, LEADER, NOW) == {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": "then",
        "renewTime": micro_time(NOW),
        "leaseTransitions": 2,
    }
    assert released_spec(current, SLOT, NOW) == {
        "renewTime": micro_time(NOW),
        "leaseTransitions": 2,
    }


def test_expiry_counts_from_the_first_sighting_of_a_version() -> None:
    lock = LeaseLock(LEADER, LeaseStore(), clock=FakeClock())
    held = record("other")
    assert not lock.expired(held, now=100.0, duration=15.0), "never seen: not judged"
    lock.observe(held, 100.0)
    lock.observe(held, 110.0)  # the same version again: still seen since 100
    assert not lock.expired(held, now=114.9, duration=15.0)
    assert not lock.available(held, now=114.9, duration=15.0)
    assert lock.expired(held, now=115.0, duration=15.0)
    assert lock.available(held, now=115.0, duration=15.0)
    renewed = LeaseRecord(name="l", holder="other", resource_version="4")
    lock.observe(renewed, 116.0)
    assert not lock.expired(renewed, now=130.0, duration=15.0)


def test_a_hold_without_duration_never_expires() -> None:
    lock = LeaseLock(SLOT, LeaseStore(), clock=FakeClock())
    held = record("other")
    lock.observe(held, 0.0)
    assert not lock.expired(held, now=1e9, duration=0.0)


@pytest.mark.parametrize("holder", ["", "me"])
def test_a_free_or_own_lease_never_expires_but_is_available(holder: str) -> None:
    lock = LeaseLock(LEADER, LeaseStore(), clock=FakeClock())
    lease = record(holder)
    lock.observe(lease, 0.0)
    assert not lock.expired(lease, now=1000.0, duration=15.0)
    assert lock.available(lease, now=0.0, duration=15.0)


async def test_hold_creates_then_replaces_with_the_version_read() -> None:
    clock, store = FakeClock(), LeaseStore()
    lock = LeaseLock(SLOT, store, clock=clock)
    created = await lock.hold(None, {"name": "l", "namespace": "ns"}, NOW)
    assert created["metadata"]["resourceVersion"] == "1"
    renewed = await lock.hold(created, created["metadata"], NOW + 5)
    verbs = [(verb, body["metadata"].get("resourceVersion")) for verb, body in store.sent]
    assert verbs == [("create", None), ("replace", "1")]
    assert store.sent[0][1]["apiVersion"] == "coordination.k8s.io/v1"
    assert store.sent[0][1]["kind"] == "Lease"
    assert renewed["spec"]["acquireTime"] == micro_time(NOW)
    assert renewed["spec"]["renewTime"] == micro_time(NOW + 5)
    released = await lock.release(renewed, {"name": "l", "labels": {"x": "y"}}, NOW + 6)
    assert released["spec"] == {"renewTime": micro_time(NOW + 6), "leaseTransitions": 1}
    assert store.sent[-1][1]["metadata"] == {
        "name": "l",
        "labels": {"x": "y"},
        "resourceVersion": "2",
    }


async def test_of_two_writers_of_one_version_only_one_wins() -> None:
    clock, store = FakeClock(), LeaseStore()
    free = store.put("l", {})
    a = LeaseLock(LeaseTerms(identity="a", duration=15.0), store, clock=clock)
    b = LeaseLock(LeaseTerms(identity="b", duration=15.0), store, clock=clock)
    await a.hold(free, free["metadata"], NOW)
    with pytest.raises(Conflict):
        await b.hold(free, free["metadata"], NOW)
    assert store.spec("l")["holderIdentity"] == "a"
