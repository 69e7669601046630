"""Workers: take a key from the queue, reconcile it, and act on the outcome.

This is the one place where the outcome of a reconcile decides what happens to its key
(as in controller-runtime's ``reconcileHandler``):

=====================================  =========================================================
reconcile outcome                      what happens to the key
=====================================  =========================================================
returns None                           success: forget its backoff
returns ``Requeue(after=s)``           forget its backoff, then queue it again in ``s`` seconds
                                       (in the urgent lane with ``urgent=True``)
raises ``PermanentError``              log at error level, count, forget; no retry
raises ``TooManyRequests``             retry after max(backoff, the server's Retry-After)
raises any other ``Exception``         log once with the traceback, retry with backoff, forever
cancelled                              propagate; nothing is swallowed
=====================================  =========================================================

There is no "give up after N tries": a failing key is retried until it succeeds, and the capped
backoff bounds the load it causes. Whatever happens, the key is marked done, so it can be handed
out again. A key is never reconciled by two workers at once: the queue guarantees it.

Every reconcile runs with ``controller``, ``key`` and a short ``reconcile_id`` bound in structlog's
context variables, so every log line it emits can be tied to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypeVar

import anyio
import structlog

from reloader.errors import PermanentError, TooManyRequests
from reloader.runtime.queue import QueueShutDown, WorkQueue

if TYPE_CHECKING:
    from reloader.runtime.clock import Clock

__all__ = ["ReconcileHooks", "ReconcileResult", "Requeue", "run_workers"]

log = structlog.get_logger(__name__)

K = TypeVar("K", bound=Hashable)

ReconcileResult = Literal["success", "error", "requeue"]
"""The ``result`` label of ``controller_runtime_reconcile_total``."""


@dataclass(frozen=True, slots=True)
class Requeue:
    """Returned by a reconcile that wants to look at its key again later ("come back at ...").

    This is not a failure: the key's backoff is forgotten. Raise to ask for a retry with backoff.
    """

    after: float
    """Seconds from now; 0 or less queues the key again at once."""
    urgent: bool = False
    """Queue it in the urgent lane (a change still to act on; ``runtime/queue.py``)."""


class ReconcileHooks(Protocol):
    """Hooks the application maps to ``controller_runtime_reconcile_*`` metrics."""

    def on_reconcile(self, result: ReconcileResult, seconds: float) -> None:
        """One reconcile finished with ``result`` after ``seconds``."""


async def run_workers(
    *,
    name: str,
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[Requeue | None]],
    workers: int = 1,
    hooks: ReconcileHooks | None = None,
    clock: Clock | None = None,
) -> None:
    """Run ``workers`` concurrent workers on ``queue`` until it is shut down.

    :param name: the controller name, logged as ``controller`` on every line.
    :param clock: measures reconcile durations (default: the queue's clock).
    Returns once every worker has seen :class:`QueueShutDown`; cancellation propagates.
    """
    if workers < 1:
        raise ValueError("a controller needs at least one worker")
    worker = _Worker(
        name=name, queue=queue, reconcile=reconcile, hooks=hooks, clock=clock or queue.clock
    )
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker.run)


class _Worker(Generic[K]):
    """The loop every worker task of one controller runs (they share this state-free object)."""

    def __init__(
        self,
        *,
        name: str,
        queue: WorkQueue[K],
        reconcile: Callable[[K], Awaitable[Requeue | None]],
        hooks: ReconcileHooks | None,
        clock: Clock,
    ) -> None:
        self._name = name
        self._queue = queue
        self._reconcile = reconcile
        self._hooks = hooks
        self._clock = clock

    async def run(self) -> None:
        while True:
            try:
                key = await self._queue.get()
            except QueueShutDown:
                return
            try:
                with structlog.contextvars.bound_contextvars(
                    controller=self._name, key=str(key), reconcile_id=uuid.uuid4().hex[:10]
                ):
                    await self._process(key)
            finally:
                self._queue.done(key)

    async def _process(self, key: K) -> None:
        started = self._clock.monotonic()
        result: ReconcileResult
        try:
            outcome = await self._reconcile(key)
        except PermanentError:
            self._queue.forget(key)
            log.exception("reconcile.permanent_error", controller=self._name, key=str(key))
            result = "error"
        except TooManyRequests as exc:
            delay = self._queue.add_rate_limited(key, retry_after=exc.retry_after)
            log.warning(
                "reconcile.throttled",
                controller=self._name,
                key=str(key),
                attempt=self._queue.failures(key),
                delay_s=round(delay, 3),
                retry_after=exc.retry_after,
            )
            result = "error"
        except Exception:
            delay = self._queue.add_rate_limited(key)
            log.exception(
                "reconcile.failed",
                controller=self._name,
                key=str(key),
                attempt=self._queue.failures(key),
                delay_s=round(delay, 3),
            )
            result = "error"
        else:
            self._queue.forget(key)
            if outcome is None:
                result = "success"
            else:
                result = "requeue"
                self._queue.add_after(key, outcome.after, urgent=outcome.urgent)
                log.debug(
                    "reconcile.requeued",
                    controller=self._name,
                    key=str(key),
                    delay_s=round(outcome.after, 3),
                )
        seconds = self._clock.monotonic() - started
        log.debug("reconcile.done", result=result, duration_s=round(seconds, 4))
        if self._hooks is not None:
            self._hooks.on_reconcile(result, seconds)
