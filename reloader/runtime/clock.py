"""Time as an injected dependency.

Every piece of runtime code that waits or measures (queue delays, backoff, informer restarts,
reconcile durations) takes a :class:`Clock` instead of calling :mod:`time` or ``anyio.sleep``
directly. Production wires :class:`RealClock`; tests wire :class:`FakeClock`, whose time moves
only when the test calls :meth:`FakeClock.advance`, so no test depends on the speed of the machine
it runs on and none has to sleep real time and hope.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol

import anyio
from anyio.lowlevel import checkpoint

__all__ = ["Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    """Where runtime code reads time and waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Wall-clock time in Unix seconds, for timestamps shown to people or written to objects."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's monotonic time (at least a checkpoint when <= 0)."""
        ...


class RealClock:
    """The process clocks: :func:`time.monotonic`, :func:`time.time` and :func:`anyio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))


class _Sleeper:
    """One pending :meth:`FakeClock.sleep`; ``finished`` marks a heap entry as dead."""

    __slots__ = ("deadline", "event", "finished")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.event = anyio.Event()
        self.finished = False


class FakeClock:
    """A clock that moves only when told to, for deterministic tests.

    ``sleep`` registers a deadline and waits; :meth:`advance` moves time forward and wakes, in
    deadline order (ties in the order the sleeps began), every sleeper whose deadline has been
    reached. Woken tasks run at the caller's next checkpoint; tests usually follow ``advance`` with
    ``await anyio.wait_all_tasks_blocked()``. ``sleep(0)`` (or a negative delay) is only a
    checkpoint. The wall clock is ``wall_start`` plus the time advanced so far.
    """

    def __init__(self, *, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._start = start
        self._wall_start = wall_start
        self._heap: list[tuple[float, int, _Sleeper]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_start + (self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await checkpoint()
            return
        sleeper = _Sleeper(self._now + seconds)
        heapq.heappush(self._heap, (sleeper.deadline, next(self._seq), sleeper))
        try:
            await sleeper.event.wait()
        finally:
            # Woken, or cancelled before its deadline: a tombstone that advance() skips.
            sleeper.finished = True

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (neither woken nor cancelled)."""
        return sum(1 for _, _, s in self._heap if not s.finished)

    def next_deadline(self) -> float | None:
        """The earliest pending sleep deadline, or None when nobody sleeps."""
        self._drop_dead()
        return self._heap[0][0] if self._heap else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0) and wake the sleepers now due."""
        if seconds < 0:
            raise ValueError("a FakeClock cannot go backwards")
        self._now += seconds
        self._wake_due()

    def advance_to(self, instant: float) -> None:
        """Move time forward to exactly ``instant`` (no-op when it is past) and wake sleepers."""
        self._now = max(self._now, instant)
        self._wake_due()

    def _drop_dead(self) -> None:
        while self._heap and self._heap[0][2].finished:
            heapq.heappop(self._heap)

    def _wake_due(self) -> None:
        while self._heap and self._heap[0][0] <= self._now:
            _, _, sleeper = heapq.heappop(self._heap)
            if not sleeper.finished:
                sleeper.finished = True
                sleeper.event.set()
