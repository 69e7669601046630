"""Leader election on a coordination.k8s.io Lease, as client-go does it, plus a clean release.

Every replica watches and keeps its caches warm; only the leader runs the workers. A candidate
takes the Lease when it is free (no holder, e.g. released by a leader that shut down) or when the
holder has not renewed it for ``lease_duration``, measured on the candidate's *own* clock from the
moment it last saw the Lease change (renew timestamps written by another node are not compared
with local time, so clock skew between nodes does not matter). The leader renews every
``retry_period``; if it cannot renew for ``renew_deadline`` it stops leading
(:class:`LeadershipLost`).
On cancellation (SIGTERM) a leader releases the Lease, so a standby takes over at its next retry
instead of waiting for the Lease to expire (Reloader does not release it, spec §8).

The Lease is read and written through an injected :class:`LeaseClient` (the app wires it to the
Kubernetes API), so this module does no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio
import structlog

from reloader.errors import Conflict, KubeError, NotFound
from reloader.runtime.clock import Clock, RealClock

log = structlog.get_logger(__name__)


class LeadershipLost(Exception):
    """Raised by :meth:`LeaderElector.run` when the leader could not renew within the deadline."""


class LeaseClient(Protocol):
    """Raw Lease access: each raises reloader.errors.NotFound / Conflict / KubeError."""

    async def get(self) -> Mapping[str, Any]: ...

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class LeaderConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def micro_time(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        self._observed: tuple[str, float] | None = None  # (resourceVersion, when we saw it)

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
            lease = await self.leases.get()
        except NotFound:
            spec = self._spec(transitions=0, acquire=now_wall, renew=now_wall)
            body = {"metadata": {"name": c.name, "namespace": c.namespace}, "spec": spec}
            return await self._write(self.leases.create, body)
        except KubeError as exc:
            log.warning("leader.lease_read_failed", lease=c.name, error=str(exc))
            return False
        meta, spec = dict(lease.get("metadata") or {}), dict(lease.get("spec") or {})
        version = str(meta.get("resourceVersion", ""))
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, now)
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or c.lease_duration)
        if holder and holder != c.identity and now - self._observed[1] < duration:
            return False  # held by another replica that renewed it recently
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == c.identity:
            acquire = spec.get("acquireTime") or micro_time(now_wall)
        else:
            transitions += 1
            acquire = micro_time(now_wall)
            log.info("leader.taking_over", lease=c.name, previous=holder or None)
        new_spec = self._spec(transitions=transitions, acquire=None, renew=now_wall)
        new_spec["acquireTime"] = acquire
        body = {"metadata": meta, "spec": new_spec}  # resourceVersion: no lost update
        return await self._write(self.leases.replace, body)

    async def _write(
        self, verb: Callable[[Mapping[str, Any]], Awaitable[Mapping[str, Any]]], body: Any
    ) -> bool:
        try:
            written = await verb({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", **body})
        except Conflict:
            return False  # another replica wrote first
        except KubeError as exc:
            log.warning("leader.lease_write_failed", lease=self.config.name, error=str(exc))
            return False
        version = str((written.get("metadata") or {}).get("resourceVersion", ""))
        self._observed = (version, self.clock.monotonic())
        return True

    def _spec(self, *, transitions: int, acquire: float | None, renew: float) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": round(self.config.lease_duration),
            "renewTime": micro_time(renew),
            "leaseTransitions": transitions,
        }
        if acquire is not None:
            spec["acquireTime"] = micro_time(acquire)
        return spec

    async def _release(self) -> None:
        """Hand the Lease back: no holder, so a standby takes it at its next retry."""
        try:
            lease = await self.leases.get()
            spec = dict(lease.get("spec") or {})
            if spec.get("holderIdentity") != self.config.identity:
                return
            spec.update(
                holderIdentity="", leaseDurationSeconds=1, renewTime=micro_time(self.clock.wall())
            )
            await self.leases.replace({**lease, "spec": spec})
            log.info("leader.released", lease=self.config.name, identity=self.config.identity)
        except KubeError as exc:
            log.warning("leader.release_failed", lease=self.config.name, error=str(exc))
