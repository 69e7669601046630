"""The node agent's reboot lock against in-memory Leases: the Lease fields it writes, takeover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import anyio
import pytest

from reloader.reboot.domain.coordination import LEASE_BOOT_ID, LEASE_PHASE, LOCK_LABEL, Busy, Phase
from reloader.reboot.lock import Acquired, LockLost, RebootLock
from reloader.runtime.clock import FakeClock
from tests.unit.runtime.leases import LeaseStore
from tests.unit.runtime.support import settle

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient

T0 = "2023-11-14T22:13:20.000000Z"  # FakeClock's wall clock at 0, as a Lease MicroTime
T5 = "2023-11-14T22:13:25.000000Z"


def lock(store: LeaseStore, clock: FakeClock, node: str, *, ttl: float = 30.0) -> RebootLock:
    client = cast("KubeClient", store)
    return RebootLock(
        client=client, clock=clock, node=node, namespace="ns", name="lk", concurrency=1, ttl=ttl
    )


def meta(store: LeaseStore, name: str) -> dict[str, Any]:
    return dict(store.leases[name]["metadata"])


async def test_acquire_renew_release_write_the_slot_lease() -> None:
    store, clock = LeaseStore(), FakeClock()
    a = lock(store, clock, "a")
    acquired = await a.acquire(boot_id="boot-a")
    assert isinstance(acquired, Acquired)
    assert (acquired.slot.name, acquired.took_over) == ("lk-0", "")
    assert store.sent[0][0] == "create"
    assert meta(store, "lk-0")["labels"] == {LOCK_LABEL: "true"}
    assert store.spec("lk-0") == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 30,
        "acquireTime": T0,
        "renewTime": T0,
        "leaseTransitions": 1,
    }
    clock.advance(5)
    await a.renew(Phase.DRAINING)
    assert store.sent[-1][1]["metadata"]["resourceVersion"] == "1"
    assert meta(store, "lk-0")["annotations"] == {LEASE_BOOT_ID: "boot-a", LEASE_PHASE: "draining"}
    assert store.spec("lk-0")["acquireTime"] == T0
    assert store.spec("lk-0")["renewTime"] == T5
    await a.release()
    assert store.spec("lk-0") == {"renewTime": T5, "leaseTransitions": 1}
    assert "annotations" not in meta(store, "lk-0")
    assert await a.held() is None


async def test_a_silent_holder_is_written_off_after_the_ttl() -> None:
    store, clock = LeaseStore(), FakeClock()
    a, b = lock(store, clock, "a"), lock(store, clock, "b")
    await a.acquire(boot_id="boot-a")
    assert await b.acquire(boot_id="boot-b") == Busy(("a",))
    clock.advance(29.9)
    assert isinstance(await b.acquire(boot_id="boot-b"), Busy)
    clock.advance(0.1)
    taken = await b.acquire(boot_id="boot-b")
    assert isinstance(taken, Acquired)
    assert (taken.took_over, taken.took_over_boot_id) == ("a", "boot-a")
    assert store.spec("lk-0")["leaseTransitions"] == 2
    with pytest.raises(LockLost):
        await a.renew(Phase.REBOOTING)


async def test_without_a_ttl_nobody_is_written_off() -> None:
    store, clock = LeaseStore(), FakeClock()
    a, b = lock(store, clock, "a", ttl=0), lock(store, clock, "b", ttl=0)
    await a.acquire(boot_id="boot-a")
    assert "leaseDurationSeconds" not in store.spec("lk-0")
    await b.acquire(boot_id="boot-b")
    clock.advance(86400)
    assert await b.acquire(boot_id="boot-b") == Busy(("a",))


async def test_renewing_cancels_the_body_when_the_slot_is_taken() -> None:
    store, clock = LeaseStore(), FakeClock()
    a = lock(store, clock, "a")
    await a.acquire(boot_id="boot-a")
    with anyio.fail_after(5):
        async with a.renewing(Phase.DRAINING) as renewal:
            await settle()
            assert meta(store, "lk-0")["annotations"][LEASE_PHASE] == "draining"
            taken = {**store.spec("lk-0"), "holderIdentity": "b"}
            store.put("lk-0", taken, labels={LOCK_LABEL: "true"})
            clock.advance(7.5)  # the next renewal: ttl / 4
            await anyio.sleep_forever()
    assert renewal.lost
