"""The reboot lock: one coordination.k8s.io Lease per slot (rules in ``domain/coordination.py``).

The Leases are written with :class:`~reloader.runtime.lease.LeaseLock`, as leader election does:
every write carries the resourceVersion it read (or is a create), so when agents race for a
slot the API server lets exactly one win; the others get 409 and read again. Expiry of another
node's slot is judged on this process's monotonic clock, from the moment it first saw the
Lease's current resourceVersion, so clocks of different nodes are never compared.

A read error is an error (raised), never "not holding": recovery must not be skipped because
the API server hiccuped (kured's Phase A does that).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from reloader.core.objects import LEASES
from reloader.errors import Conflict, KubeError, NotFound
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.kube.leases import Leases
from reloader.reboot.domain import coordination as rules
from reloader.runtime.clock import Clock
from reloader.runtime.lease import LeaseLock, LeaseTerms

log = structlog.get_logger(__name__)

ATTEMPTS = 3
RENEW_EVERY_S = 10.0


class LockLost(Exception):
    """Raised by :meth:`RebootLock.renew` when another node holds our slot now."""


@dataclass(frozen=True, slots=True)
class Acquired:
    slot: rules.SlotView
    #: the node whose expired hold we took over ("" when the slot was free)
    took_over: str = ""
    took_over_boot_id: str = ""

    def written_off_message(self, node: str, *, ttl: float) -> str:
        """The Warning Event on the node whose hold was taken over."""
        dead = self.took_over
        return (
            f"node {dead} held reboot lock {self.slot.name} without renewing it for "
            f"--lock-ttl ({ttl:g}s) and did not come back (boot ID still "
            f"{self.took_over_boot_id or 'unknown'}); its lock was taken over by {node}. "
            f"{dead} is left cordoned: uncordon it by hand once it is healthy"
        )


@dataclass(slots=True)
class Renewal:
    #: the slot was lost (or not renewed in time) and the body was cancelled
    lost: bool = False


class RebootLock:
    def __init__(
        self,
        *,
        client: KubeClient,
        clock: Clock,
        node: str,
        namespace: str,
        name: str,
        concurrency: int,
        ttl: float,
    ) -> None:
        self.client = client
        self.clock = clock
        self.node = node
        self.namespace = namespace
        self.prefix = name
        self.concurrency = concurrency
        self.ttl = ttl
        self.slot: rules.SlotView | None = None  # our slot, as last written or read
        self.boot_id = ""
        terms = LeaseTerms(
            identity=node, duration=ttl, count_creation=True, release_keeps_record=False
        )
        self.lease = LeaseLock(terms, Leases(client, namespace), clock=clock)

    # ---------------------------------------------------------------------------- reading

    async def read(self) -> list[rules.SlotView]:
        """Every lock Lease. :raises KubeError: the list failed."""
        page = await resources.list_page(
            self.client, LEASES, namespace=self.namespace, label_selector=rules.LOCK_LABEL
        )
        items = page.get("items") or []
        slots = [s for item in items if (s := rules.slot_view(self.prefix, item)) is not None]
        now = self.clock.monotonic()
        for s in slots:
            self.lease.observe(s, now)
        return slots

    def expired(self, slots: list[rules.SlotView]) -> frozenset[str]:
        """Slots whose (other) holder has not written for ``ttl`` as seen by this process."""
        now = self.clock.monotonic()
        return frozenset(s.name for s in slots if self.lease.expired(s, now=now, duration=self.ttl))

    async def held(self) -> rules.SlotView | None:
        """Our slot, if we hold one. :raises KubeError: the Leases could not be read."""
        slots = await self.read()
        mine = next((s for s in slots if s.holder == self.node), None)
        self.slot = mine
        if mine is not None:
            self.boot_id = mine.boot_id
        return mine

    # ---------------------------------------------------------------------------- writing

    async def acquire(self, *, boot_id: str) -> Acquired | rules.Busy:
        """Take a slot for this node, or report who holds them all.

        :raises KubeError: reading or writing failed (other than losing a race).
        """
        for _ in range(ATTEMPTS):
            slots = await self.read()
            decision = rules.decide_lock(
                slots,
                node=self.node,
                prefix=self.prefix,
                concurrency=self.concurrency,
                expired=self.expired(slots),
            )
            if isinstance(decision, rules.Busy):
                return decision
            if isinstance(decision, rules.Held):
                self.slot, self.boot_id = decision.slot, decision.slot.boot_id
                return Acquired(decision.slot)
            try:
                written = await self._hold(
                    decision.name, decision.current, boot_id=boot_id, phase=rules.Phase.ACQUIRED
                )
            except Conflict:
                log.debug("reboot.lock_race_lost", slot=decision.name)
                continue
            self.boot_id = boot_id
            old = decision.current
            return Acquired(
                written,
                took_over=decision.takeover,
                took_over_boot_id=old.boot_id if old is not None and old.holder else "",
            )
        return rules.Busy(())

    async def renew(self, phase: rules.Phase) -> None:
        """Write a fresh renewTime and ``phase`` on our slot.

        :raises LockLost: the slot has another holder (or none) now.
        :raises KubeError: the write failed for another reason (the caller retries).
        """
        for _ in range(ATTEMPTS):
            current = self.slot
            if current is None:
                raise LockLost("no slot held")
            try:
                await self._hold(current.name, current, boot_id=self.boot_id, phase=phase)
            except (Conflict, NotFound):
                fresh = await self.held()
                if fresh is None or fresh.name != current.name:
                    self.slot = None
                    raise LockLost(f"{current.name} is no longer held by {self.node}") from None
                continue
            return
        raise KubeError(f"could not renew {self.namespace}/{self.prefix}: too many conflicts")

    @asynccontextmanager
    async def renewing(self, phase: rules.Phase) -> AsyncIterator[Renewal]:
        """Renew our slot in the background while the body runs.

        When the slot is lost, or could not be renewed for 2/3 of the TTL (before anyone else
        may write us off), the body is cancelled and ``lost`` is set on the yielded object.
        """
        renewal = Renewal()
        with anyio.CancelScope() as work:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._keep_renewing, work, phase, renewal)
                yield renewal
                tg.cancel_scope.cancel()

    async def _keep_renewing(
        self, work: anyio.CancelScope, phase: rules.Phase, renewal: Renewal
    ) -> None:
        interval = min(RENEW_EVERY_S, self.ttl / 4) if self.ttl > 0 else RENEW_EVERY_S
        last_ok = self.clock.monotonic()
        while True:
            try:
                await self.renew(phase)
                last_ok = self.clock.monotonic()
            except LockLost:
                renewal.lost = True
            except KubeError as exc:
                log.warning("reboot.lock_renew_failed", node=self.node, error=str(exc))
                late = self.clock.monotonic() - last_ok >= self.ttl * 2 / 3
                renewal.lost = self.ttl > 0 and late
            if renewal.lost:
                work.cancel()
                return
            await self.clock.sleep(interval)

    async def release(self) -> None:
        """Give our slot back (no holder). Nothing to do when we hold none.

        :raises KubeError: the write failed; the caller retries later.
        """
        for _ in range(ATTEMPTS):
            current = await self.held()
            if current is None:
                return
            try:
                await self._give_back(current)
            except (Conflict, NotFound):
                continue
            self.slot = None
            log.info("reboot.lock_released", slot=current.name, node=self.node)
            return
        raise KubeError(f"could not release {self.namespace}/{self.prefix}: too many conflicts")

    async def _hold(
        self, name: str, current: rules.SlotView | None, *, boot_id: str, phase: rules.Phase
    ) -> rules.SlotView:
        """Write this node into slot ``name``: acquire it, or renew ``current`` when ours."""
        meta = rules.lock_metadata(
            name, self.namespace, current, holder=self.node, boot_id=boot_id, phase=phase
        )
        lease = current.lease if current is not None else None
        return self._written(await self.lease.hold(lease, meta, self.clock.wall()))

    async def _give_back(self, current: rules.SlotView) -> rules.SlotView:
        meta = rules.lock_metadata(current.name, self.namespace, current)  # no holder
        raw = await self.lease.release(current.lease, meta, self.clock.wall())
        return self._written(raw)

    def _written(self, raw: Mapping[str, Any]) -> rules.SlotView:
        written = rules.slot_view(self.prefix, raw)
        if written is None:  # pragma: no cover - we named it
            raise KubeError(f"unexpected Lease name {raw.get('metadata')}")
        if written.holder == self.node:
            self.slot = written
        return written
