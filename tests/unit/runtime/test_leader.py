"""Lease leader election against an in-memory Lease store with the API's conflict semantics."""

from __future__ import annotations

import anyio
import pytest

from reloader.errors import Conflict
from reloader.runtime.clock import FakeClock
from reloader.runtime.leader import LeaderConfig, LeaderElector, LeadershipLost
from tests.unit.runtime.leases import LeaseStore
from tests.unit.runtime.support import run_until, settle


def elector(leases: LeaseStore, clock: FakeClock, identity: str) -> LeaderElector:
    config = LeaderConfig(name="lock", namespace="ns", identity=identity)
    return LeaderElector(config=config, leases=leases.one("lock"), clock=clock)


async def test_first_candidate_creates_the_lease_and_leads() -> None:
    clock, leases = FakeClock(), LeaseStore()
    led = anyio.Event()

    async def lead() -> None:
        led.set()
        await anyio.sleep_forever()

    a = elector(leases, clock, "a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run, lead)
            await led.wait()
            assert leases.spec("lock")["holderIdentity"] == "a"
            tg.cancel_scope.cancel()
    # cancelled (SIGTERM): the lease is handed back
    assert leases.spec("lock")["holderIdentity"] == ""


async def test_standby_waits_for_expiry_of_a_silent_holder() -> None:
    clock, leases = FakeClock(), LeaseStore()
    leases.put("lock", {"holderIdentity": "dead", "leaseDurationSeconds": 15})
    led = anyio.Event()

    async def lead() -> None:
        led.set()
        await anyio.sleep_forever()

    b = elector(leases, clock, "b")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(b.run, lead)
            await run_until(clock, lambda: clock.monotonic() >= 14.0)
            assert not led.is_set(), "took the lease before it expired"
            await run_until(clock, led.is_set)
            assert 15.0 <= clock.monotonic() <= 17.0
            assert leases.spec("lock")["holderIdentity"] == "b"
            assert leases.spec("lock")["leaseTransitions"] == 1
            tg.cancel_scope.cancel()


async def test_leader_that_cannot_renew_stops_leading() -> None:
    clock, leases = FakeClock(), LeaseStore()
    led = anyio.Event()

    async def lead() -> None:
        led.set()
        await anyio.sleep_forever()

    a = elector(leases, clock, "a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                with pytest.raises(LeadershipLost):
                    await a.run(lead)

            tg.start_soon(run)
            await led.wait()
            leases.fail_writes = Conflict("simulated", status=409)
            await run_until(clock, lambda: not a.is_leader)
            assert 10.0 <= clock.monotonic() <= 13.0
    await settle()


def test_timings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="retry period"):
        LeaderElector(
            config=LeaderConfig(name="l", namespace="n", identity="i", renew_deadline=20.0),
            leases=LeaseStore().one("l"),
        )


async def test_lease_fields_are_client_gos() -> None:
    clock, leases = FakeClock(), LeaseStore()
    led = anyio.Event()

    async def lead() -> None:
        led.set()
        await anyio.sleep_forever()

    t0, t2 = "2023-11-14T22:13:20.000000Z", "2023-11-14T22:13:22.000000Z"
    a = elector(leases, clock, "a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run, lead)
            await led.wait()
            assert leases.spec("lock") == {
                "holderIdentity": "a",
                "leaseDurationSeconds": 15,
                "acquireTime": t0,
                "renewTime": t0,
                "leaseTransitions": 0,  # creating the Lease is no transition
            }
            await run_until(clock, lambda: leases.spec("lock")["renewTime"] == t2)
            assert leases.spec("lock")["acquireTime"] == t0
            tg.cancel_scope.cancel()
    assert leases.spec("lock") == {
        "holderIdentity": "",
        "leaseDurationSeconds": 1,
        "acquireTime": t0,
        "renewTime": t2,
        "leaseTransitions": 0,
    }
