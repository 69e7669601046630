"""Leader election on a coordination.k8s.io Lease, as client-go does it, plus a clean release.

Every replica watches and keeps its caches warm; only the leader runs the workers. A candidate
takes the Lease when it is free (no holder, e.g. released by a leader that shut down) or when the
holder has not renewed it for ``lease_duration``, measured on the candidate's *own* clock from the
moment it last saw the Lease change (renew timestamps written by another node are not compared
with local time, so clock skew between nodes does not matter). The leader renews every
``retry_period``; if it cannot renew for ``renew_deadline`` it stops leading
(:class:`LeadershipLost`).
On cancellation (SIGTERM) a leader releases the Lease, so a standby takes over at its next retry
instead of waiting for the Lease to expire (Reloader does not release it).

The Lease is read and written through an injected :class:`~reloader.runtime.lease.LeaseClient`
(the app wires it to the Kubernetes API) with :class:`~reloader.runtime.lease.LeaseLock` in
client-go's Lease format, so this module does no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from reloader.errors import Conflict, KubeError, NotFound
from reloader.runtime.clock import Clock, RealClock
from reloader.runtime.lease import LeaseClient, LeaseLock, LeaseRecord, LeaseTerms

log = structlog.get_logger(__name__)


class LeadershipLost(Exception):
    """Raised by :meth:`LeaderElector.run` when the leader could not renew within the deadline."""


@dataclass(frozen=True, slots=True)
class LeaderConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    def __init__(
        self, *, config: LeaderConfig, leases: LeaseClient, clock: Clock | None = None
    ) -> None:
        if not config.retry_period < config.renew_deadline < config.lease_duration:
            raise ValueError("leader election needs retry period < renew deadline < lease duration")
        self.config = config
        self.leases = leases
        self.clock: Clock = clock or RealClock()
        self.is_leader = False
        terms = LeaseTerms(identity=config.identity, duration=config.lease_duration)
        self.lease = LeaseLock(terms, leases, clock=self.clock)

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Wait for the Lease, then run ``lead`` while renewing; release the Lease on exit.

        :raises LeadershipLost: the Lease could not be renewed within ``renew_deadline``.
        """
        c = self.config
        while not await self._try_acquire_or_renew():
            await self.clock.sleep(c.retry_period)
        self.is_leader = True
        log.info("leader.acquired", lease=c.name, namespace=c.namespace, identity=c.identity)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._renew_until_lost, tg.cancel_scope)
                await lead()
                tg.cancel_scope.cancel()
            if not self.is_leader:
                raise LeadershipLost(f"could not renew lease {c.namespace}/{c.name}")
        finally:
            if self.is_leader:
                with anyio.CancelScope(shield=True), anyio.move_on_after(c.retry_period):
                    await self._release()
            self.is_leader = False

    async def _renew_until_lost(self, leading: anyio.CancelScope) -> None:
        c = self.config
        last_renewed = self.clock.monotonic()
        while True:
            await self.clock.sleep(c.retry_period)
            if await self._try_acquire_or_renew():
                last_renewed = self.clock.monotonic()
            elif self.clock.monotonic() - last_renewed >= c.renew_deadline:
                log.error("leader.lost", lease=c.name, identity=c.identity)
                self.is_leader = False
                leading.cancel()
                return

    async def _try_acquire_or_renew(self) -> bool:
        c = self.config
        now_wall, now = self.clock.wall(), self.clock.monotonic()
        try:
            current: Mapping[str, Any] | None = await self.leases.get()
        except NotFound:
            current = None
        except KubeError as exc:
            log.warning("leader.lease_read_failed", lease=c.name, error=str(exc))
            return False
        metadata: Mapping[str, Any] = {"name": c.name, "namespace": c.namespace}
        if current is not None:
            lease = LeaseRecord.of(current)
            self.lease.observe(lease, now)
            duration = lease.duration or c.lease_duration
            if not self.lease.available(lease, now=now, duration=duration):
                return False  # held by another replica that renewed it recently
            if lease.holder != c.identity:
                log.info("leader.taking_over", lease=c.name, previous=lease.holder or None)
            metadata = current.get("metadata") or {}
        try:
            await self.lease.hold(current, metadata, now_wall)
        except Conflict:
            return False  # another replica wrote first
        except KubeError as exc:
            log.warning("leader.lease_write_failed", lease=c.name, error=str(exc))
            return False
        return True

    async def _release(self) -> None:
        """Hand the Lease back: no holder, so a standby takes it at its next retry."""
        try:
            lease = await self.leases.get()
            if LeaseRecord.of(lease).holder != self.config.identity:
                return
            await self.lease.release(lease, lease.get("metadata") or {}, self.clock.wall())
            log.info("leader.released", lease=self.config.name, identity=self.config.identity)
        except KubeError as exc:
            log.warning("leader.release_failed", lease=self.config.name, error=str(exc))
