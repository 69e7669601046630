"""Holding reloads back safely: rollout limits, flapping protection, windows, write rate.

A held reload is not written and not recorded, so the level-triggered reconcile applies the newest
content when the hold ends: nothing is lost and a burst of changes gives one rollout.

- ``RolloutGate``: at most N rollouts in progress cluster-wide and per namespace (a rollout is in
  progress from our write until the workload's controller reports it complete, or a timeout).
  Waiting workloads are admitted in the order of their first change.
- Flapping: a workload whose rollout is not complete yet is not rolled again until it completes;
  once held for that, it also waits until its sources have been quiet for ``flap_quiet`` (a
  source that keeps changing gives one more rollout, with the final content, not one per
  completed rollout); never longer than ``flap_max_wait`` since the hold began.
- Windows: see ``workloads/domain/windows.py``.
- ``WriteLimiter``: a token bucket bounding our writes per second; restarts take the next token
  before records (``domain/tokens.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import anyio

from reloader.core.annotations import AnnotationNames, annotation_warning, quote
from reloader.core.objects import ObjectKey
from reloader.runtime.clock import Clock, RealClock
from reloader.workloads.domain.tokens import TokenBucket, WaitLine
from reloader.workloads.domain.windows import Window, parse_window


class HoldReason(StrEnum):
    """Why a restart waits (the ``reason`` label of the held-reload metrics)."""

    LIMIT = "limit"
    FLAPPING = "flapping"
    WINDOW = "window"
    #: health-gated waves (``workloads/waves.py``): this workload's wave has not come yet
    WAVE = "wave"
    #: a workload rolled for the same change failed: the change is halted
    HALTED = "halted"


LIMIT, FLAPPING, WINDOW = HoldReason.LIMIT, HoldReason.FLAPPING, HoldReason.WINDOW


@dataclass(frozen=True, slots=True)
class Hold:
    reason: HoldReason
    #: seconds after which to look again (a completion or a window opening also wakes us)
    retry_after: float


class RolloutGate:
    def __init__(
        self,
        *,
        global_limit: int,
        namespace_limit: int,
        timeout: float,
        flap_max_wait: float,
        flap_quiet: float = 5.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flap_quiet = flap_quiet
        self.global_limit = global_limit
        self.namespace_limit = namespace_limit
        self.timeout = timeout
        self.flap_max_wait = flap_max_wait
        self._now = now
        self.in_progress: dict[ObjectKey, float] = {}  # key → when we rolled it
        self.waiting: dict[ObjectKey, float] = {}  # key → when it first had to wait
        #: rollouts that stopped counting after ``timeout``, until :meth:`forget` or a new slot
        self.expired: set[ObjectKey] = set()
        self._flap_since: dict[ObjectKey, float] = {}

    def check(
        self, key: ObjectKey, *, rollout_complete: bool, last_change: float | None = None
    ) -> Hold | None:
        """None when ``key`` may roll now (its slot is then taken: call :meth:`release` if the
        write does not happen); else why not and when to look again.

        Taking the slot here, not after the write, keeps concurrent workers from all passing
        the check before any of them has written.
        """
        now = self._now()
        self._expire(now)
        if not rollout_complete:
            since = self._flap_since.setdefault(key, now)
            if now - since < self.flap_max_wait:
                return Hold(FLAPPING, min(5.0, self.flap_max_wait - (now - since)))
        since_or_none = self._flap_since.get(key)
        # wait for quiet only if changes kept coming while the rollout was held
        if since_or_none is not None and last_change is not None and last_change > since_or_none:
            quiet_for = now - last_change
            if quiet_for < self.flap_quiet and now - since_or_none < self.flap_max_wait:
                return Hold(FLAPPING, self.flap_quiet - quiet_for)
        self._flap_since.pop(key, None)
        if not self._slot_free(key, now):
            return Hold(LIMIT, 5.0)
        self.waiting.pop(key, None)
        self.expired.discard(key)
        self.in_progress[key] = now
        return None

    def _slot_free(self, key: ObjectKey, now: float) -> bool:
        self.waiting.setdefault(key, now)
        mine = self.waiting[key]
        ahead = [k for k, t in self.waiting.items() if (t, str(k)) < (mine, str(key))]
        if self.global_limit > 0:
            running = sum(1 for k in self.in_progress if k != key)
            if running + len(ahead) >= self.global_limit:
                return False
        if self.namespace_limit > 0:
            running = sum(1 for k in self.in_progress if k.namespace == key.namespace and k != key)
            ahead_here = sum(1 for k in ahead if k.namespace == key.namespace)
            if running + ahead_here >= self.namespace_limit:
                return False
        return True

    def adopt(self, key: ObjectKey) -> None:
        """Count a rollout found under way (started before this process) as in progress."""
        self.in_progress.setdefault(key, self._now())

    def running_for(self, key: ObjectKey) -> float | None:
        """Seconds since ``key``'s rollout took its slot; None when it holds none."""
        self._expire(self._now())
        started = self.in_progress.get(key)
        return None if started is None else self._now() - started

    def release(self, key: ObjectKey) -> None:
        """The admitted rollout was not written (an error, a conflict, or not a rollout kind)."""
        self.in_progress.pop(key, None)

    def finished(self, key: ObjectKey) -> list[ObjectKey]:
        """``key``'s rollout completed: the waiting keys to wake, oldest first."""
        if self.in_progress.pop(key, None) is None:
            return []
        return sorted(self.waiting, key=lambda k: self.waiting[k])

    def forget(self, key: ObjectKey) -> list[ObjectKey]:
        """``key`` is gone."""
        self.waiting.pop(key, None)
        self.expired.discard(key)
        self._flap_since.pop(key, None)
        return self.finished(key)

    def _expire(self, now: float) -> None:
        for key, started in list(self.in_progress.items()):
            if now - started > self.timeout:
                del self.in_progress[key]  # a stuck rollout must not block everyone forever
                self.expired.add(key)


class WriteLimiter:
    """Token bucket: ``rate`` writes per second, bursts up to ``burst``; 0 disables it.

    Every write takes a token; a write waiting with ``urgent=True`` (a restart) gets the next one
    before those waiting without (records), each lane in arrival order (``domain/tokens.py``).
    Only the head of the line sleeps until the bucket has a token; the others wait for their
    turn, which the one leaving the line hands on.
    """

    def __init__(self, *, rate: float, burst: int, clock: Clock | None = None) -> None:
        self.rate = rate
        self._clock = clock or RealClock()
        self._bucket = TokenBucket(rate=rate, burst=burst, now=self._clock.monotonic())
        self._line: WaitLine[_Turn] = WaitLine()

    @property
    def waiting(self) -> int:
        """Writes waiting for a token."""
        return len(self._line)

    async def acquire(self, *, urgent: bool = False) -> None:
        if self.rate <= 0:
            return
        turn = _Turn()
        self._line.join(turn, urgent=urgent)
        try:
            while True:
                if self._line.head() is not turn:
                    turn.event = anyio.Event()  # set by whoever leaves the line before us
                    await turn.event.wait()
                    continue
                wait = self._bucket.take(self._clock.monotonic())
                if wait <= 0:
                    return
                # an urgent write may join meanwhile: after this sleep it is the head
                await self._clock.sleep(wait)
        finally:
            self._line.leave(turn)
            if (head := self._line.head()) is not None:
                head.event.set()


class _Turn:
    """One write in the line; ``event`` is set when it may be its turn."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = anyio.Event()


def window_for(
    annotations: Mapping[str, str],
    *,
    names: AnnotationNames,
    default: str,
    default_timezone: str,
) -> tuple[Window | None, tuple[str, ...]]:
    """The reload window of a workload (its annotation, else the global flag) and warnings."""
    text = annotations.get(names.reload_window, default)
    zone = annotations.get(names.reload_window_timezone, default_timezone)
    if not text:
        return None, ()
    try:
        return parse_window(text, zone), ()
    except ValueError as exc:
        # name the annotation that holds the bad value: the time zone, or the window
        bad_zone = str(exc).startswith("unknown time zone")
        key = names.reload_window_timezone if bad_zone else names.reload_window
        value = zone if bad_zone else text
        return None, (annotation_warning(key, f"{quote(value)}: {exc}: reloading at any time"),)
