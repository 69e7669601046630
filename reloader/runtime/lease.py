"""A lock on a coordination.k8s.io Lease: leader election and the node agent's reboot lock use it.

A Lease names its holder (``holderIdentity``), how long a hold lasts without renewal
(``leaseDurationSeconds``), when the holder took it and last renewed it (``acquireTime``,
``renewTime``, both MicroTime) and how often it changed hands (``leaseTransitions``). A holder
takes a Lease that is missing (a create), free (no holder) or expired, renews its own, and
releases it. Every replace carries the resourceVersion that was read, so when writers race the
API server lets exactly one win; the others get 409 (:class:`~reloader.errors.Conflict`).

Expiry is judged on this process's monotonic clock from the moment it first saw the Lease's
current resourceVersion, never by comparing ``renewTime`` (written by another node's clock) with
local time, so clock skew between nodes does not matter.

The rules are plain functions of ``now``; :class:`LeaseLock` keeps the sightings and writes
through an injected :class:`LeaseWriter` (the caller wires it to the Kubernetes API), so this
module does no I/O of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from reloader.runtime.clock import Clock

API_VERSION = "coordination.k8s.io/v1"


class LeaseWriter(Protocol):
    """Writes Leases; each raises reloader.errors.Conflict / NotFound / KubeError."""

    async def create(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...

    async def replace(self, body: Mapping[str, Any]) -> Mapping[str, Any]: ...


class LeaseClient(LeaseWriter, Protocol):
    """Raw access to one Lease: each raises reloader.errors.NotFound / Conflict / KubeError."""

    async def get(self) -> Mapping[str, Any]: ...


class Sighted(Protocol):
    """What expiry needs of a Lease as read."""

    @property
    def name(self) -> str: ...

    @property
    def holder(self) -> str: ...

    @property
    def resource_version(self) -> str: ...


def micro_time(unix: float) -> str:
    """A Lease MicroTime (``acquireTime``, ``renewTime``)."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_seconds(duration: float) -> int | None:
    """``leaseDurationSeconds`` for holds of ``duration`` seconds: at least 1 (the API's
    minimum); None (not written) when holds do not expire (``duration`` <= 0)."""
    return max(1, round(duration)) if duration > 0 else None


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A Lease as read."""

    name: str
    holder: str
    resource_version: str
    #: the spec as read (a release in client-go's format keeps it)
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: ``leaseDurationSeconds`` (0 when not set)
    duration: float = 0.0
    transitions: int = 0
    acquire_time: str = ""

    @classmethod
    def of(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        meta = lease.get("metadata") or {}
        spec = lease.get("spec") or {}
        return cls(
            name=str(meta.get("name", "")),
            holder=str(spec.get("holderIdentity") or ""),
            resource_version=str(meta.get("resourceVersion", "")),
            spec=spec,
            duration=float(spec.get("leaseDurationSeconds") or 0),
            transitions=int(spec.get("leaseTransitions") or 0),
            acquire_time=str(spec.get("acquireTime") or ""),
        )


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    """Who holds, for how long, and the two ways the existing Lease formats differ."""

    identity: str
    #: seconds a hold lasts without renewal, written as ``leaseDurationSeconds`` (<= 0: none)
    duration: float
    #: creating the Lease counts as a transition (client-go, and so leader election: it does not)
    count_creation: bool = False
    #: a release keeps the record with holderIdentity "" and a 1 s duration (client-go), instead
    #: of leaving only renewTime and leaseTransitions
    release_keeps_record: bool = True


def held_spec(current: LeaseRecord | None, terms: LeaseTerms, now: float) -> dict[str, Any]:
    """The spec that takes ``current`` (missing, free or expired) for ``terms.identity``, or
    renews it when it is already theirs (acquireTime and the transitions count kept)."""
    spec: dict[str, Any] = {"holderIdentity": terms.identity, "renewTime": micro_time(now)}
    seconds = lease_seconds(terms.duration)
    if seconds is not None:
        spec["leaseDurationSeconds"] = seconds
    if current is not None and current.holder == terms.identity:
        spec["acquireTime"] = current.acquire_time or micro_time(now)
        spec["leaseTransitions"] = current.transitions
    else:
        spec["acquireTime"] = micro_time(now)
        first = 1 if terms.count_creation else 0
        spec["leaseTransitions"] = current.transitions + 1 if current is not None else first
    return spec


def released_spec(current: LeaseRecord, terms: LeaseTerms, now: float) -> dict[str, Any]:
    """The spec that hands ``current`` back: no holder, so the next candidate may take it."""
    if terms.release_keeps_record:
        return {
            **current.spec,
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "renewTime": micro_time(now),
        }
    return {"renewTime": micro_time(now), "leaseTransitions": current.transitions}


def lease_object(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}


class LeaseLock:
    """Leases held as ``terms.identity``: when each version was first seen, and the writes.

    ``hold`` and ``release`` create the Lease when ``current`` is None and otherwise replace it
    with the resourceVersion read; they raise what ``writer`` raises.
    """

    def __init__(self, terms: LeaseTerms, writer: LeaseWriter, *, clock: Clock) -> None:
        self.terms = terms
        self.writer = writer
        self.clock = clock
        self._seen: dict[str, tuple[str, float]] = {}  # name: (resourceVersion, first seen)

    def observe(self, lease: Sighted, now: float) -> None:
        """Note a read at monotonic ``now``: the time of a version is when it was first seen."""
        seen = self._seen.get(lease.name)
        if seen is None or seen[0] != lease.resource_version:
            self._seen[lease.name] = (lease.resource_version, now)

    def expired(self, lease: Sighted, *, now: float, duration: float) -> bool:
        """Whether another holder left ``lease`` unchanged for ``duration`` seconds (a hold of
        ``duration`` <= 0 never expires)."""
        seen = self._seen.get(lease.name)
        other = bool(lease.holder) and lease.holder != self.terms.identity
        return other and duration > 0 and seen is not None and now - seen[1] >= duration

    def available(self, lease: Sighted, *, now: float, duration: float) -> bool:
        """Whether we may write ``lease``: it is free, ours, or expired."""
        free = lease.holder in ("", self.terms.identity)
        return free or self.expired(lease, now=now, duration=duration)

    async def hold(
        self, current: Mapping[str, Any] | None, metadata: Mapping[str, Any], now: float
    ) -> Mapping[str, Any]:
        """Acquire or renew (see :func:`held_spec`); ``now`` is the wall clock."""
        record = LeaseRecord.of(current) if current is not None else None
        return await self._write(record, metadata, held_spec(record, self.terms, now))

    async def release(
        self, current: Mapping[str, Any], metadata: Mapping[str, Any], now: float
    ) -> Mapping[str, Any]:
        """Hand ``current`` back (see :func:`released_spec`); ``now`` is the wall clock."""
        record = LeaseRecord.of(current)
        return await self._write(record, metadata, released_spec(record, self.terms, now))

    async def _write(
        self, current: LeaseRecord | None, metadata: Mapping[str, Any], spec: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if current is None:
            written = await self.writer.create(lease_object(metadata, spec))
        else:
            meta = {**metadata, "resourceVersion": current.resource_version}
            written = await self.writer.replace(lease_object(meta, spec))
        mine = LeaseRecord.of(written)  # a version we wrote is new: its time starts now
        self._seen[mine.name] = (mine.resource_version, self.clock.monotonic())
        return written
