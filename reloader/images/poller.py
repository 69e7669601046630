"""The digests of the watched references, shared by every workload that uses them.

One :class:`Lookup` per distinct reference (and, where a registry demands credentials, per
credential source): however many workloads use ``registry/app:latest``, its tag is resolved
once per interval. A workload that asks while a request is in flight waits for its answer; one
that asks before the reference is due gets the cached digest. Due times lie on a grid per
reference, at a phase from a hash of it (``domain/polling.py``): references are spread over the
interval.

Politeness per registry host: consecutive failures back the whole registry off (exponentially,
up to ten minutes); a 429 waits at least its ``Retry-After``. A 404 is the image's problem, not the
registry's, and backs nothing off. Credentials are read only for references whose registry
refused an anonymous request, through a function the caller gives (the workload's pull Secrets),
and only when a lookup is due. Lookups no workload has asked for in an hour (or three intervals)
are forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import structlog

from reloader.images.domain.polling import backoff, next_poll
from reloader.images.registry import RateLimited, RegistryError, TagNotFound, Unauthorized

if TYPE_CHECKING:
    from reloader.images.domain.credentials import Credential
    from reloader.images.domain.references import ImageRef
    from reloader.images.registry import RegistryClient
    from reloader.runtime.clock import Clock

log = structlog.get_logger(__name__)

#: the credentials for one reference (read when needed), and the problems found reading them
CredentialSource = Callable[[], Awaitable[tuple[list["Credential"], tuple[str, ...]]]]
#: how often unused lookups are looked for, and how long unused (at least) before forgotten
PRUNE_EVERY = 60.0
PRUNE_AFTER = 3600.0
#: a registry fails: (registry host, reason)
FailureHook = Callable[[str, str], None]


@dataclass(slots=True)
class Lookup:
    """What is known of one reference: its digest, when it was asked, the last error."""

    ref: str
    digest: str | None = None
    #: monotonic time of the last answer (None: never answered)
    checked_at: float | None = None
    #: wall time of the last answer, for explain
    checked_wall: float | None = None
    error: str = ""
    error_reason: str = ""
    #: not before this monotonic time (backoff of the registry, or Retry-After)
    not_before: float = 0.0
    interval: float = 0.0
    #: monotonic time a workload last asked for it (unused lookups are forgotten)
    asked_at: float = 0.0
    _inflight: anyio.Event | None = field(default=None, repr=False)

    def due(self, interval: float) -> float:
        """The monotonic time at which this reference is asked again."""
        if self.checked_at is None:
            return self.not_before
        return max(next_poll(self.checked_at, interval, self.ref), self.not_before)


@dataclass(slots=True)
class _Registry:
    failures: int = 0
    not_before: float = 0.0


class Poller:
    def __init__(
        self, *, client: RegistryClient, clock: Clock, on_failure: FailureHook | None = None
    ) -> None:
        self.client = client
        self.clock = clock
        self._on_failure = on_failure
        self._lookups: dict[tuple[str, str], Lookup] = {}
        self._registries: dict[str, _Registry] = {}
        #: references whose registry refused anonymous requests
        self._needs_credentials: set[str] = set()
        self._pruned = 0.0

    async def current(
        self, ref: ImageRef, interval: float, credentials: CredentialSource, *, source: str
    ) -> Lookup:
        """``ref``'s lookup, asked again when it is due; never raises a registry error.

        ``source`` names where the workload's credentials come from (its namespace and pull
        Secrets, or its ServiceAccount): on a registry that demands credentials, lookups are kept
        per source, and ``credentials`` is called only when one is due.
        """
        name = str(ref)
        who = source if name in self._needs_credentials else ""
        now = self.clock.monotonic()
        self._prune(now)
        lookup = self._lookups.setdefault((name, who), Lookup(ref=name))
        lookup.asked_at = now
        if lookup._inflight is not None:
            await lookup._inflight.wait()
            return lookup
        if lookup.checked_at is not None and lookup.error == "":
            if now < lookup.due(min(interval, lookup.interval or interval)):
                return lookup
        elif now < lookup.not_before:
            return lookup
        registry = self._registries.setdefault(ref.api_host, _Registry())
        if now < registry.not_before:
            lookup.not_before = registry.not_before
            return lookup
        lookup._inflight = anyio.Event()
        try:
            credential: Credential | None = None
            problems: tuple[str, ...] = ()
            if who:
                found, problems = await credentials()
                credential = found[0] if found else None
            await self._ask(ref, lookup, registry, credential, interval, problems)
        finally:
            lookup._inflight.set()
            lookup._inflight = None
        if not who and lookup.error_reason == Unauthorized.reason:
            self._needs_credentials.add(name)
            return await self.current(ref, interval, credentials, source=source)
        return lookup

    def _prune(self, now: float) -> None:
        """Forget the lookups no workload has asked for in a while (images no longer used)."""
        if now - self._pruned < PRUNE_EVERY:
            return
        self._pruned = now
        for key, lookup in list(self._lookups.items()):
            idle = max(PRUNE_AFTER, 3 * lookup.interval)
            if lookup._inflight is None and now - lookup.asked_at > idle:
                del self._lookups[key]

    async def _ask(
        self,
        ref: ImageRef,
        lookup: Lookup,
        registry: _Registry,
        credential: Credential | None,
        interval: float,
        problems: tuple[str, ...],
    ) -> None:
        log.debug(
            "image.lookup", image=str(ref), registry=ref.api_host, credential=bool(credential)
        )
        try:
            digest = await self.client.resolve(ref, credential)
        except RegistryError as exc:
            now = self.clock.monotonic()
            message = str(exc)
            if problems and isinstance(exc, Unauthorized):
                message = f"{message} ({'; '.join(problems)})"
            lookup.error, lookup.error_reason = message, exc.reason
            lookup.interval = interval
            if isinstance(exc, TagNotFound | Unauthorized):
                # the image's (or its credentials') problem: the registry itself is fine
                lookup.not_before = now + interval
            else:
                registry.failures += 1
                wait = backoff(registry.failures)
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
                registry.not_before = lookup.not_before = now + wait
                log.warning(
                    "image.registry_backoff",
                    registry=ref.api_host,
                    failures=registry.failures,
                    wait_s=round(wait, 1),
                    error=message,
                )
            if self._on_failure is not None:
                self._on_failure(ref.api_host, exc.reason)
            return
        registry.failures = 0
        registry.not_before = 0.0
        if lookup.digest is not None and lookup.digest != digest:
            log.info("image.tag_moved", image=str(ref), old=lookup.digest, new=digest)
        lookup.digest = digest
        lookup.checked_at = self.clock.monotonic()
        lookup.checked_wall = self.clock.wall()
        lookup.error = lookup.error_reason = ""
        lookup.not_before = 0.0
        lookup.interval = interval
