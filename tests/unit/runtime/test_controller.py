from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import anyio
import pytest
import structlog
from structlog.testing import capture_logs

from reloader.errors import Conflict, PermanentError, TooManyRequests
from reloader.runtime.backoff import Backoff
from reloader.runtime.controller import Requeue, run_workers
from reloader.runtime.queue import WorkQueue
from tests.unit.runtime.support import RecordingHooks, run_until, settle

if TYPE_CHECKING:
    from reloader.runtime.clock import FakeClock


class Script:
    """A reconcile whose outcome per call is scripted; records calls per key."""

    def __init__(self, *outcomes: BaseException | Requeue | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: Counter[str] = Counter()

    async def __call__(self, key: str) -> Requeue | None:
        self.calls[key] += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def make_queue(clock: FakeClock, *, cap: float = 300.0) -> WorkQueue[str]:
    return WorkQueue(clock=clock, backoff=Backoff(cap=cap))


async def test_success_forgets_the_backoff(clock: FakeClock) -> None:
    queue = make_queue(clock)
    reconcile = Script(RuntimeError("boom"), RuntimeError("boom"), None)
    hooks = RecordingHooks()
    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, hooks=hooks)
            )
            await run_until(clock, lambda: reconcile.calls["a"] == 3)
            assert queue.failures("a") == 0
            queue.shutdown()
    assert [result for result, _ in hooks.results] == ["error", "error", "success"]
    assert len(queue) == 0


async def test_failures_are_retried_past_any_fixed_count(clock: FakeClock) -> None:
    queue = make_queue(clock, cap=1.0)
    reconcile = Script(*[Conflict("stale") for _ in range(20)], None)
    queue.add("a")
    with anyio.fail_after(2), capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_workers(name="reload", queue=queue, reconcile=reconcile))
            await run_until(clock, lambda: reconcile.calls["a"] == 21)
            queue.shutdown()
    assert reconcile.calls["a"] == 21
    failed = [entry for entry in logs if entry["event"] == "reconcile.failed"]
    assert [entry["attempt"] for entry in failed] == list(range(1, 21))
    delays = [entry["delay_s"] for entry in failed]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-5:] == [1.0] * 5  # capped, never dropped
    assert clock.monotonic() == pytest.approx(sum(min(0.005 * 2**n, 1.0) for n in range(20)))
    assert queue.failures("a") == 0


async def test_failure_is_logged_once_with_traceback_and_fields(clock: FakeClock) -> None:
    queue = make_queue(clock)
    reconcile = Script(RuntimeError("boom"))
    queue.add("a")
    with anyio.fail_after(2), capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_workers(name="reload", queue=queue, reconcile=reconcile))
            await settle()
            queue.shutdown()
    logs = [e for e in logs if e["log_level"] != "debug"]
    assert logs == [
        {
            "event": "reconcile.failed",
            "log_level": "error",
            "exc_info": True,
            "controller": "reload",
            "key": "a",
            "attempt": 1,
            "delay_s": 0.005,
        }
    ]
    assert "a" in queue  # queued again with backoff


async def test_requeue_after_forgets_backoff_and_comes_back_later(clock: FakeClock) -> None:
    queue = make_queue(clock)
    reconcile = Script(RuntimeError("boom"), Requeue(after=30.0), None)
    hooks = RecordingHooks()
    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, hooks=hooks)
            )
            await run_until(clock, lambda: reconcile.calls["a"] == 2)
            assert queue.failures("a") == 0
            requeued_at = clock.monotonic()
            clock.advance(29.9)
            await settle()
            assert reconcile.calls["a"] == 2
            clock.advance_to(requeued_at + 30.0)
            await settle()
            assert reconcile.calls["a"] == 3
            queue.shutdown()
    assert [result for result, _ in hooks.results] == ["error", "requeue", "success"]


async def test_permanent_error_is_logged_and_not_retried(clock: FakeClock) -> None:
    queue = make_queue(clock)
    reconcile = Script(PermanentError("cannot ever work"))
    hooks = RecordingHooks()
    queue.add("a")
    with anyio.fail_after(2), capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, hooks=hooks)
            )
            await settle()
            clock.advance(3600)
            await settle()
            queue.shutdown()
    assert reconcile.calls["a"] == 1
    assert "a" not in queue
    assert queue.failures("a") == 0
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("reconcile.permanent_error", "error"),
        ("reconcile.done", "debug"),
    ]
    assert hooks.results == [("error", 0.0)]


@pytest.mark.parametrize(
    ("retry_after", "expected_delay"),
    [pytest.param(7.0, 7.0, id="retry-after"), pytest.param(None, 0.005, id="no-retry-after")],
)
async def test_too_many_requests_waits_for_retry_after(
    clock: FakeClock, retry_after: float | None, expected_delay: float
) -> None:
    queue = make_queue(clock)
    reconcile = Script(TooManyRequests("slow down", retry_after=retry_after))
    queue.add("a")
    with anyio.fail_after(2), capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_workers(name="t", queue=queue, reconcile=reconcile))
            await settle()
            clock.advance(expected_delay * 0.99)
            await settle()
            assert reconcile.calls["a"] == 1
            clock.advance_to(expected_delay)
            await settle()
            assert reconcile.calls["a"] == 2
            queue.shutdown()
    throttled = [e for e in logs if e["event"] == "reconcile.throttled"]
    assert [e["delay_s"] for e in throttled] == [expected_delay]


async def test_one_key_is_never_processed_by_two_workers_at_once(clock: FakeClock) -> None:
    queue = make_queue(clock)
    active: set[str] = set()
    overlaps: list[str] = []
    seen_concurrently: list[set[str]] = []
    calls: Counter[str] = Counter()
    gate = anyio.Event()

    async def reconcile(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        calls[key] += 1
        seen_concurrently.append(set(active))
        try:
            if key == "a" and calls["a"] == 1:
                await gate.wait()
            else:
                await clock.sleep(1)
        finally:
            active.discard(key)

    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, workers=2)
            )
            await settle()
            assert active == {"a"}
            queue.add("a")  # re-added while the first worker holds it
            queue.add("b")
            await settle()
            assert active == {"a", "b"}  # the second worker is free, yet does not take "a"
            clock.advance(1)
            await settle()
            assert calls == {"a": 1, "b": 1}
            gate.set()
            await run_until(clock, lambda: calls["a"] == 2 and not active)
            queue.shutdown()
    assert overlaps == []
    assert calls == {"a": 2, "b": 1}


async def test_reconcile_runs_with_bound_log_context(clock: FakeClock) -> None:
    queue = make_queue(clock)
    contexts: list[dict[str, object]] = []

    async def reconcile(key: str) -> None:
        contexts.append(structlog.contextvars.get_contextvars())

    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_workers(name="reload", queue=queue, reconcile=reconcile))
            await settle()
            queue.add("a")
            await settle()
            queue.shutdown()
    assert [(c["controller"], c["key"]) for c in contexts] == [("reload", "a"), ("reload", "a")]
    ids = [c["reconcile_id"] for c in contexts]
    assert all(isinstance(i, str) and 0 < len(i) <= 12 for i in ids)
    assert ids[0] != ids[1]
    assert structlog.contextvars.get_contextvars() == {}


async def test_cancellation_propagates_and_the_key_is_still_done(clock: FakeClock) -> None:
    queue = make_queue(clock)
    hooks = RecordingHooks()
    cancelled: list[str] = []

    async def reconcile(key: str) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(key)
            raise

    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, hooks=hooks)
            )
            await settle()
            assert queue.is_processing("a")
            tg.cancel_scope.cancel()
    assert cancelled == ["a"]
    assert not queue.is_processing("a")
    assert hooks.results == []  # a cancellation is not an outcome
    assert queue.failures("a") == 0


async def test_workers_return_when_the_queue_shuts_down(clock: FakeClock) -> None:
    queue = make_queue(clock)
    reconcile = Script()
    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, workers=3)
            )
            await settle()
            queue.shutdown()
        # reaching here means every worker returned on its own
    assert reconcile.calls == {"a": 1}


async def test_hooks_measure_reconcile_time_on_the_clock(clock: FakeClock) -> None:
    queue = make_queue(clock)
    hooks = RecordingHooks()

    async def reconcile(key: str) -> None:
        await clock.sleep(2.5)

    queue.add("a")
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: run_workers(name="t", queue=queue, reconcile=reconcile, hooks=hooks)
            )
            await run_until(clock, lambda: bool(hooks.results))
            queue.shutdown()
    assert hooks.results == [("success", 2.5)]


async def test_at_least_one_worker_is_required(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        await run_workers(name="t", queue=make_queue(clock), reconcile=Script(), workers=0)
