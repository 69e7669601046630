"""Lease leader election against an in-memory Lease store with the API's conflict semantics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from reloader.errors import Conflict, NotFound
from reloader.runtime.clock import FakeClock
from reloader.runtime.leader import LeaderConfig, LeaderElector, LeadershipLost
from tests.unit.runtime.support import run_until, settle


class Leases:
    """One Lease object: create fails if it exists, replace needs the current resourceVersion."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] | None = None
        self.version = 0
        self.fail_writes = False

    async def get(self) -> Mapping[str, Any]:
        if self.obj is None:
            raise NotFound("no lease", status=404)
        return self.obj

    def _store(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.fail_writes:
            raise Conflict("simulated", status=409)
        self.version += 1
        self.obj = {
            **body,
            "metadata": {**body.get("metadata", {}), "resourceVersion": str(self.version)},
        }
        return self.obj

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.obj is not None:
            raise Conflict("exists", status=409)
        return self._store(body)

    async def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if body["metadata"].get("resourceVersion") != str(self.version):
            raise Conflict("stale", status=409)
        return self._store(body)


def elector(leases: Leases, clock: FakeClock, identity: str) -> LeaderElector:
    config = LeaderConfig(name="lock", namespace="ns", identity=identity)
    return LeaderElector(config=config, leases=leases, clock=clock)


async def test_first_candidate_creates_the_lease_and_leads() -> None:
    clock, leases = FakeClock(), Leases()
    led = anyio.Event()

    async def lead() -> None:
        led.set()
        await anyio.sleep_forever()

    a = elector(leases, clock, "a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run, lead)
            await led.wait()
            assert leases.obj is not None
            assert leases.obj["spec"]["holderIdentity"] == "a"
            tg.cancel_scope.cancel()
    # cancelled (SIGTERM): the lease is handed back
    assert leases.obj is not None
    assert leases.obj["spec"]["holderIdentity"] == ""


async def test_standby_waits_for_expiry_of_a_silent_holder() -> None:
    clock, leases = FakeClock(), Leases()
    leases.obj = {
        "metadata": {"resourceVersion": "0"},
        "spec": {"holderIdentity": "dead", "leaseDurationSeconds": 15},
    }
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
            assert leases.obj["spec"]["holderIdentity"] == "b"
            assert leases.obj["spec"]["leaseTransitions"] == 1
            tg.cancel_scope.cancel()


async def test_leader_that_cannot_renew_stops_leading() -> None:
    clock, leases = FakeClock(), Leases()
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
            leases.fail_writes = True
            await run_until(clock, lambda: not a.is_leader)
            assert 10.0 <= clock.monotonic() <= 13.0
    await settle()


def test_timings_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="retry period"):
        LeaderElector(
            config=LeaderConfig(name="l", namespace="n", identity="i", renew_deadline=20.0),
            leases=Leases(),
        )
