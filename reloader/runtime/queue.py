"""A keyed work queue with controller-runtime's semantics.

Work is keyed by object (a workload), not by event: the queue holds *keys*, and a key is queued at
most once however many events map to it, so a burst of changes to several sources of one workload
costs one reconcile, and so one rollout. The rules, ported from controller-runtime
and client-go's workqueue:

* Each key is in at most one waiting state: *ready* (handed out by :meth:`WorkQueue.get` in FIFO
  order), *delayed* (ready at a given instant), or *dirty* (re-added while being processed).
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
        self._ready: deque[K] = deque()
        self._ready_since: dict[K, float] = {}  # the keys in _ready -> when they became ready
        self._delayed: dict[K, tuple[float, int]] = {}  # key -> (ready at, heap entry id)
        self._heap: list[tuple[float, int, K]] = []  # may hold superseded entries
        self._seq = itertools.count()
        self._processing: dict[K, float] = {}  # key -> when get() handed it out
        self._dirty: dict[K, float] = {}  # processing keys re-added -> when they were re-added
        self._wakeup: anyio.Event | None = None
        self._shut_down = False

    # ------------------------------------------------------------------ adding

    def add(self, key: K) -> None:
        """Queue ``key`` now (no-op if already ready or dirty; a delayed key becomes ready)."""
        if self._shut_down:
            return
        self._delayed.pop(key, None)
        self._enqueue(key, since=self.clock.monotonic())

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds, unless it is already due earlier."""
        if delay <= 0:
            self.add(key)
            return
        if self._shut_down or key in self._ready_since or key in self._dirty:
            return
        ready_at = self.clock.monotonic() + delay
        current = self._delayed.get(key)
        if current is not None and current[0] <= ready_at:
            return
        seq = next(self._seq)
        self._delayed[key] = (ready_at, seq)
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
            if self._ready:
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
        dirty_since = self._dirty.pop(key, None)
        if dirty_since is not None and not self._shut_down:
            self._ready.append(key)
            self._ready_since[key] = now
            self._report_depth()
            self._notify()

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
        return len(self._ready)

    def __len__(self) -> int:
        """Distinct keys waiting to be handed out: ready, delayed and dirty."""
        self._promote_due()
        return len(self._ready) + len(self._delayed) + len(self._dirty)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is waiting to be handed out (ready, delayed or dirty)."""
        return key in self._ready_since or key in self._delayed or key in self._dirty

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def statistics(self) -> QueueStatistics:
        self._promote_due()
        return QueueStatistics(
            ready=len(self._ready),
            delayed=len(self._delayed),
            processing=len(self._processing),
            dirty=len(self._dirty),
            shut_down=self._shut_down,
        )

    # ------------------------------------------------------------------ internals

    def _enqueue(self, key: K, *, since: float) -> None:
        """Make ``key`` ready (or dirty, if processing) unless it already is."""
        if key in self._processing:
            if key not in self._dirty:
                self._dirty[key] = since
                self._count_add()
            return
        if key in self._ready_since:
            return
        self._ready.append(key)
        self._ready_since[key] = since
        self._count_add()
        self._report_depth()
        self._notify()

    def _take(self) -> K:
        key = self._ready.popleft()
        since = self._ready_since.pop(key)
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
            if self._delayed.get(key) != (ready_at, seq):
                continue  # superseded by an earlier add, or already made ready
            del self._delayed[key]
            if not self._shut_down:
                self._enqueue(key, since=ready_at)

    def _next_due(self) -> float | None:
        while self._heap:
            ready_at, seq, key = self._heap[0]
            if self._delayed.get(key) == (ready_at, seq):
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
            self._metrics.on_depth(len(self._ready))
