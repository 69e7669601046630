"""A keyed work queue with controller-runtime's semantics.

Work is keyed by object (a workload), not by event: the queue holds *keys*, and a key is queued at
most once however many events map to it, so a burst of changes to several sources of one workload
costs one reconcile, and so one rollout. The rules, ported from controller-runtime
and client-go's workqueue:

* Each key is in at most one waiting state: *ready* (handed out by :meth:`WorkQueue.get` in FIFO
  order), *delayed* (ready at a given instant), or *dirty* (re-added while being processed).
* Two lanes: a key added with ``urgent=True`` (a change to act on) is handed out before every
  key of the normal lane (the initial pass over every workload, a first sight), FIFO within each
  lane. A key keeps the most urgent lane of its adds: an urgent add of a key waiting in the normal
  lane moves it to the urgent lane, a normal add of an urgent key leaves it there. Urgency
  survives a delay (``add_after``) and a dirty re-add: the highest priority and the earliest
  instant win, as in controller-runtime's priority queue (v0.20), whose handlers also give the
  objects of the initial list the lower priority. The normal lane waits as long as urgent
  keys are ready: they are changes, few next to a full pass (docs/design/level-triggered.md,
  "Changes go ahead of first-sight records").
* Re-adding keeps the **earliest** ready time: :meth:`~WorkQueue.add` of a delayed key makes it
  ready now; :meth:`~WorkQueue.add_after` of an already ready key changes nothing, and of a delayed
  key keeps the earlier of the two instants.
* A key handed out by ``get`` is *processing* until :meth:`~WorkQueue.done`. It is never handed to a
  second worker meanwhile: adding it again marks it dirty, and ``done`` puts it back in the ready
  queue. A delayed add that falls due while the key is processing also marks it dirty.
* :meth:`~WorkQueue.add_rate_limited` delays a key by its per-key
  :class:`~reloader.runtime.backoff.Backoff`; :meth:`~WorkQueue.forget` clears that history (and
  nothing else: a queued key stays queued).
* :meth:`~WorkQueue.shutdown` is final: every waiting and future ``get`` raises
  :class:`QueueShutDown` (keys still queued are abandoned: the controller is level-triggered and
  rebuilds its work from the informers when it starts again), and adds are ignored. ``done`` keeps
  working so that workers can finish cleanly.

All timing goes through an injected :class:`~reloader.runtime.clock.Clock` (default: the real
one). There is no background task: a waiting ``get`` sleeps on the clock until the earliest
delayed key is due or an add wakes it. The queue is for one event loop and is not thread-safe.

Metrics go to an optional :class:`QueueMetrics` hook that the application maps to Prometheus
(``workqueue_*``); this package never imports a metrics library.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import anyio
import structlog

from reloader.runtime.backoff import Backoff
from reloader.runtime.clock import Clock, RealClock

__all__ = ["QueueMetrics", "QueueShutDown", "QueueStatistics", "WorkQueue"]

log = structlog.get_logger(__name__)

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue has been shut down: the worker should exit."""


class QueueMetrics(Protocol):
    """Hooks the application maps to the ``workqueue_*`` metrics."""

    def on_add(self) -> None:
        """A key became queued (ready, or dirty while processing); duplicates are not counted."""

    def on_depth(self, depth: int) -> None:
        """The number of ready keys changed to ``depth``."""

    def on_queue_latency(self, seconds: float) -> None:
        """A key waited ``seconds`` between becoming ready and being handed to a worker."""

    def on_work_duration(self, seconds: float) -> None:
        """A worker held a key for ``seconds`` (from ``get`` to ``done``)."""

    def on_retry(self) -> None:
        """A key was re-queued with backoff after a failure."""


@dataclass(frozen=True, slots=True)
class QueueStatistics:
    """A snapshot of the queue: keys per state (dirty keys are also counted as processing)."""

    ready: int
    delayed: int
    processing: int
    dirty: int
    shut_down: bool


class WorkQueue(Generic[K]):
    """Deduplicating, delaying, rate-limiting queue of keys; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        backoff: Backoff[K] | None = None,
        metrics: QueueMetrics | None = None,
        name: str = "",
    ) -> None:
        self.clock: Clock = clock if clock is not None else RealClock()
        self.name = name
        self._backoff: Backoff[K] = backoff if backoff is not None else Backoff()
        self._metrics = metrics
        # the two lanes hold (entry id, key); an entry whose id is not the key's in _ready_since
        # is stale (the key moved to the urgent lane, or was taken): skipped when it comes up
        self._urgent: deque[tuple[int, K]] = deque()
        self._ready: deque[tuple[int, K]] = deque()
        #: ready keys -> (when they became ready, entry id, urgent)
        self._ready_since: dict[K, tuple[float, int, bool]] = {}
        #: delayed keys -> (ready at, heap entry id, urgent)
        self._delayed: dict[K, tuple[float, int, bool]] = {}
        self._heap: list[tuple[float, int, K]] = []  # may hold superseded entries
        self._seq = itertools.count()
        self._processing: dict[K, float] = {}  # key -> when get() handed it out
        #: processing keys re-added -> (when they were re-added, urgent)
        self._dirty: dict[K, tuple[float, bool]] = {}
        self._wakeup: anyio.Event | None = None
        self._shut_down = False

    # ------------------------------------------------------------------ adding

    def add(self, key: K, *, urgent: bool = False) -> None:
        """Queue ``key`` now (no-op if already ready or dirty, except that ``urgent`` moves it to
        the urgent lane; a delayed key becomes ready)."""
        if self._shut_down:
            return
        delayed = self._delayed.pop(key, None)
        urgent = urgent or (delayed is not None and delayed[2])
        self._enqueue(key, since=self.clock.monotonic(), urgent=urgent)

    def add_after(self, key: K, delay: float, *, urgent: bool = False) -> None:
        """Queue ``key`` after ``delay`` seconds, unless it is already due earlier; ``urgent``
        makes a waiting key urgent in any case."""
        if delay <= 0:
            self.add(key, urgent=urgent)
            return
        if self._shut_down:
            return
        if key in self._ready_since or key in self._dirty:
            if urgent:
                self._enqueue(key, since=self.clock.monotonic(), urgent=True)
            return
        ready_at = self.clock.monotonic() + delay
        current = self._delayed.get(key)
        if current is not None and current[0] <= ready_at:
            if urgent and not current[2]:
                self._delayed[key] = (*current[:2], True)
            return
        urgent = urgent or (current is not None and current[2])
        seq = next(self._seq)
        self._delayed[key] = (ready_at, seq, urgent)
        heapq.heappush(self._heap, (ready_at, seq, key))
        self._notify()  # a getter may be sleeping until a later instant

    def add_rate_limited(self, key: K, *, retry_after: float | None = None) -> float:
        """Count a failure of ``key`` and queue it after its backoff delay; return that delay."""
        delay = self._backoff.next_delay(key, retry_after=retry_after)
        if self._metrics is not None:
            self._metrics.on_retry()
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Clear the backoff history of ``key`` (it stays queued if it is)."""
        self._backoff.forget(key)

    def failures(self, key: K) -> int:
        """Consecutive failures of ``key`` recorded by :meth:`add_rate_limited`."""
        return self._backoff.failures(key)

    # ------------------------------------------------------------------ taking

    async def get(self) -> K:
        """Wait for a ready key, mark it processing and return it.

        :raises QueueShutDown: once :meth:`shutdown` has been called.
        """
        while True:
            if self._shut_down:
                raise QueueShutDown(self.name)
            self._promote_due()
            if self._ready_since:
                return self._take()
            if self._wakeup is None:
                self._wakeup = anyio.Event()
            wakeup = self._wakeup
            due = self._next_due()
            if due is None:
                await wakeup.wait()
            else:
                await self._wait(wakeup, due - self.clock.monotonic())

    def done(self, key: K) -> None:
        """Finish processing ``key``; if it was re-added meanwhile, it becomes ready again."""
        started = self._processing.pop(key, None)
        if started is None:
            log.warning("queue.done_not_processing", queue=self.name, key=str(key))
            return
        now = self.clock.monotonic()
        if self._metrics is not None:
            self._metrics.on_work_duration(now - started)
        dirty = self._dirty.pop(key, None)
        if dirty is not None and not self._shut_down:
            self._enqueue(key, since=now, urgent=dirty[1], count=False)

    def shutdown(self) -> None:
        """Stop handing out keys: waiting and future :meth:`get` calls raise QueueShutDown."""
        self._shut_down = True
        self._notify()

    # ------------------------------------------------------------------ inspecting

    @property
    def shutting_down(self) -> bool:
        return self._shut_down

    @property
    def depth(self) -> int:
        """Keys ready to be handed out now."""
        self._promote_due()
        return len(self._ready_since)

    @property
    def urgent_depth(self) -> int:
        """Keys ready to be handed out now in the urgent lane."""
        self._promote_due()
        return sum(1 for _, _, urgent in self._ready_since.values() if urgent)

    def __len__(self) -> int:
        """Distinct keys waiting to be handed out: ready, delayed and dirty."""
        self._promote_due()
        return len(self._ready_since) + len(self._delayed) + len(self._dirty)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is waiting to be handed out (ready, delayed or dirty)."""
        return key in self._ready_since or key in self._delayed or key in self._dirty

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def statistics(self) -> QueueStatistics:
        self._promote_due()
        return QueueStatistics(
            ready=len(self._ready_since),
            delayed=len(self._delayed),
            processing=len(self._processing),
            dirty=len(self._dirty),
            shut_down=self._shut_down,
        )

    # ------------------------------------------------------------------ internals

    def _enqueue(self, key: K, *, since: float, urgent: bool, count: bool = True) -> None:
        """Make ``key`` ready (or dirty, if processing) unless it already is; ``urgent`` moves
        a key ready in the normal lane to the urgent lane (it keeps its ready time)."""
        if key in self._processing:
            dirty = self._dirty.get(key)
            if dirty is None:
                self._dirty[key] = (since, urgent)
                self._count_add()
            elif urgent and not dirty[1]:
                self._dirty[key] = (dirty[0], True)
            return
        ready = self._ready_since.get(key)
        if ready is not None:
            if not urgent or ready[2]:
                return
            since, count = ready[0], False  # moved to the urgent lane: no new add
        seq = next(self._seq)
        (self._urgent if urgent else self._ready).append((seq, key))
        self._ready_since[key] = (since, seq, urgent)
        if count:
            self._count_add()
        self._report_depth()
        self._notify()

    def _take(self) -> K:
        """Pop the first live entry, urgent lane first (the caller checked that one exists)."""
        seq, key = (self._urgent if self._urgent else self._ready).popleft()
        while (ready := self._ready_since.get(key)) is None or ready[1] != seq:
            seq, key = (self._urgent if self._urgent else self._ready).popleft()
        since = ready[0]
        del self._ready_since[key]
        if not self._ready_since:  # nothing live left: drop the stale entries
            self._urgent.clear()
            self._ready.clear()
        now = self.clock.monotonic()
        self._processing[key] = now
        if self._metrics is not None:
            self._metrics.on_queue_latency(max(0.0, now - since))
        self._report_depth()
        return key

    def _promote_due(self) -> None:
        """Move delayed keys whose instant has come to the ready queue (or mark them dirty)."""
        now = self.clock.monotonic()
        while self._heap and self._heap[0][0] <= now:
            ready_at, seq, key = heapq.heappop(self._heap)
            delayed = self._delayed.get(key)
            if delayed is None or delayed[1] != seq:
                continue  # superseded by an earlier add, or already made ready
            del self._delayed[key]
            if not self._shut_down:
                self._enqueue(key, since=ready_at, urgent=delayed[2])

    def _next_due(self) -> float | None:
        while self._heap:
            ready_at, seq, key = self._heap[0]
            delayed = self._delayed.get(key)
            if delayed is not None and delayed[1] == seq:
                return ready_at
            heapq.heappop(self._heap)
        return None

    async def _wait(self, wakeup: anyio.Event, seconds: float) -> None:
        """Wait until ``wakeup`` is set or ``seconds`` of the clock have passed."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._alarm, tg.cancel_scope, seconds)
            await wakeup.wait()
            tg.cancel_scope.cancel()

    async def _alarm(self, scope: anyio.CancelScope, seconds: float) -> None:
        await self.clock.sleep(seconds)
        scope.cancel()

    def _notify(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def _count_add(self) -> None:
        if self._metrics is not None:
            self._metrics.on_add()

    def _report_depth(self) -> None:
        if self._metrics is not None:
            self._metrics.on_depth(len(self._ready_since))
