from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from structlog.testing import capture_logs

from reloader.runtime.backoff import Backoff
from reloader.runtime.queue import QueueShutDown, WorkQueue
from tests.unit.runtime.support import RecordingQueueMetrics, settle

if TYPE_CHECKING:
    from reloader.runtime.clock import FakeClock


class Getter:
    """A task that takes keys from a queue one by one and records them (and the shutdown)."""

    def __init__(self, queue: WorkQueue[str]) -> None:
        self.queue = queue
        self.got: list[str] = []
        self.shut_down = False

    async def __call__(self) -> None:
        try:
            while True:
                self.got.append(await self.queue.get())
        except QueueShutDown:
            self.shut_down = True


async def test_same_key_added_three_times_is_handed_out_once(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for _ in range(3):
        queue.add("a")
    assert len(queue) == 1
    assert queue.depth == 1
    getter = Getter(queue)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()
            queue.shutdown()
    assert getter.got == ["a"]
    assert getter.shut_down


async def test_keys_are_handed_out_in_fifo_order(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for key in ("b", "a", "c", "a"):
        queue.add(key)
    with anyio.fail_after(2):
        assert [await queue.get() for _ in range(3)] == ["b", "a", "c"]


async def test_get_waits_for_an_add(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    getter = Getter(queue)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()
            assert getter.got == []
            queue.add("a")
            await settle()
            assert getter.got == ["a"]
            queue.shutdown()


@pytest.mark.parametrize(
    "delays",
    [pytest.param((10.0, 2.0), id="earlier-second"), pytest.param((2.0, 10.0), id="later-second")],
)
async def test_earliest_ready_time_wins(clock: FakeClock, delays: tuple[float, float]) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for delay in delays:
        queue.add_after("a", delay)
    assert len(queue) == 1
    assert queue.depth == 0
    clock.advance(1.999)
    assert queue.depth == 0
    clock.advance(0.001)
    assert queue.depth == 1
    with anyio.fail_after(2):
        assert await queue.get() == "a"
    queue.done("a")
    clock.advance(20)
    assert len(queue) == 0  # the later instant was not kept as a second entry


async def test_add_makes_a_delayed_key_ready_now(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 10)
    queue.add("a")
    assert queue.depth == 1
    with anyio.fail_after(2):
        assert await queue.get() == "a"
    queue.done("a")
    clock.advance(10)
    assert len(queue) == 0


async def test_add_after_does_not_postpone_a_ready_key(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    queue.add_after("a", 5)
    assert queue.depth == 1
    assert queue.statistics().delayed == 0


async def test_sleeping_getter_wakes_when_a_delayed_key_is_due(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    getter = Getter(queue)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()
            queue.add_after("a", 5)
            queue.add_after("b", 3)
            await settle()
            clock.advance(2.9)
            await settle()
            assert getter.got == []
            clock.advance(0.1)
            await settle()
            assert getter.got == ["b"]
            clock.advance(2)
            await settle()
            assert getter.got == ["b", "a"]
            queue.shutdown()
    assert clock.sleepers == 0


async def test_key_readded_while_processing_is_requeued_on_done(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    with anyio.fail_after(2):
        assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert queue.depth == 0  # not handed to anyone while processing
    assert "a" in queue
    stats = queue.statistics()
    assert (stats.processing, stats.dirty) == (1, 1)
    getter = Getter(queue)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()
            assert getter.got == []
            queue.done("a")
            await settle()
            assert getter.got == ["a"]
            queue.shutdown()


async def test_delayed_add_due_while_processing_marks_the_key_dirty(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    with anyio.fail_after(2):
        assert await queue.get() == "a"
    queue.add_after("a", 1)
    clock.advance(1)
    assert queue.depth == 0
    assert queue.statistics().dirty == 1
    queue.done("a")
    assert queue.depth == 1
    assert queue.is_processing("a") is False


async def test_shutdown_wakes_every_getter_and_ignores_adds(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    getters = [Getter(queue), Getter(queue)]
    queue.add_after("later", 50)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for getter in getters:
                tg.start_soon(getter)
            await settle()
            queue.shutdown()
        assert all(getter.shut_down for getter in getters)
        queue.add("a")
        assert queue.depth == 0
        with pytest.raises(QueueShutDown):
            await queue.get()
    assert queue.shutting_down
    assert clock.sleepers == 0


async def test_cancelled_get_loses_no_key(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 5)
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.get)
            await settle()
            tg.cancel_scope.cancel()
        assert clock.sleepers == 0
        clock.advance(5)
        assert await queue.get() == "a"


async def test_rate_limited_adds_back_off_and_forget_resets(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, backoff=Backoff(cap=1.0))
    delays = []
    for _ in range(10):
        start = clock.monotonic()
        delays.append(queue.add_rate_limited("a"))
        clock.advance(delays[-1] * 0.99)
        assert queue.depth == 0
        clock.advance_to(start + delays[-1])
        assert queue.depth == 1
        with anyio.fail_after(2):
            assert await queue.get() == "a"
        queue.done("a")
    assert delays[:3] == pytest.approx([0.005, 0.01, 0.02])
    assert delays[-1] == 1.0
    assert queue.failures("a") == 10
    queue.add_rate_limited("b")
    queue.forget("b")
    assert queue.failures("b") == 0
    assert "b" in queue  # forget clears the history, not the queued key
    queue.forget("a")
    assert queue.add_rate_limited("a") == pytest.approx(0.005)


async def test_rate_limited_add_honours_retry_after(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    assert queue.add_rate_limited("a", retry_after=7.0) == 7.0
    clock.advance(6.9)
    assert queue.depth == 0
    clock.advance(0.1)
    assert queue.depth == 1


async def test_metrics_hooks_report_adds_depth_latency_duration_and_retries(
    clock: FakeClock,
) -> None:
    metrics = RecordingQueueMetrics()
    queue: WorkQueue[str] = WorkQueue(clock=clock, metrics=metrics)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert metrics.adds == 2
    assert metrics.depths == [1, 2]
    clock.advance(3)
    with anyio.fail_after(2):
        assert await queue.get() == "a"
    assert metrics.latencies == [3.0]
    assert metrics.depths[-1] == 1
    clock.advance(2)
    queue.done("a")
    assert metrics.durations == [2.0]
    queue.add_rate_limited("c")
    assert metrics.retries == 1


def test_done_for_a_key_not_processing_is_logged_not_raised(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock, name="reload")
    with capture_logs() as logs:
        queue.done("ghost")
    assert logs == [
        {
            "event": "queue.done_not_processing",
            "log_level": "warning",
            "queue": "reload",
            "key": "ghost",
        }
    ]


# ---------------------------------------------------------------------- the urgent lane


async def test_urgent_keys_go_before_the_normal_lane_fifo_within_each(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for key in ("n1", "n2", "n3"):
        queue.add(key)
    queue.add("u1", urgent=True)
    queue.add("n4")
    queue.add("u2", urgent=True)
    assert queue.urgent_depth == 2
    with anyio.fail_after(2):
        got = [await queue.get() for _ in range(6)]
    assert got == ["u1", "u2", "n1", "n2", "n3", "n4"]
    assert len(queue) == 0


async def test_an_urgent_add_moves_a_waiting_key_ahead_once(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for key in ("a", "b", "c"):
        queue.add(key)
    queue.add("c", urgent=True)
    queue.add("c")  # a normal add does not move it back
    assert (queue.depth, queue.urgent_depth) == (3, 1)
    with anyio.fail_after(2):
        assert [await queue.get() for _ in range(3)] == ["c", "a", "b"]
    assert queue.depth == 0


async def test_a_key_taken_from_the_urgent_lane_leaves_no_second_entry(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    queue.add("b")
    queue.add("b", urgent=True)  # b's normal entry is now stale
    with anyio.fail_after(2):
        assert await queue.get() == "b"
        queue.done("b")
        queue.add("b")  # normal again: behind a, handed out once
        assert [await queue.get() for _ in range(2)] == ["a", "b"]
    assert len(queue) == 0


async def test_urgency_survives_a_delay(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("first-sight")
    queue.add_after("change", 0.05, urgent=True)
    queue.add_after("change", 1.0)  # a later, normal add keeps the earlier instant and the lane
    clock.advance(0.05)
    queue.add("another-first-sight")
    with anyio.fail_after(2):
        assert [await queue.get() for _ in range(3)] == [
            "change",
            "first-sight",
            "another-first-sight",
        ]


async def test_an_urgent_add_after_makes_a_delayed_key_urgent(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("held", 1.0)
    queue.add_after("held", 5.0, urgent=True)  # later instant: the earlier one stays, now urgent
    queue.add("first-sight")
    clock.advance(1.0)
    with anyio.fail_after(2):
        assert [await queue.get() for _ in range(2)] == ["held", "first-sight"]


async def test_urgency_survives_a_dirty_readd(clock: FakeClock) -> None:
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    with anyio.fail_after(2):
        assert await queue.get() == "a"
        queue.add("a")  # dirty, normal
        queue.add("a", urgent=True)  # still dirty: now urgent
        queue.add("b")
        queue.done("a")
        assert queue.urgent_depth == 1
        assert [await queue.get() for _ in range(2)] == ["a", "b"]


async def test_an_add_counts_once_when_a_key_moves_to_the_urgent_lane(clock: FakeClock) -> None:
    metrics = RecordingQueueMetrics()
    queue: WorkQueue[str] = WorkQueue(clock=clock, metrics=metrics)
    queue.add("a")
    queue.add("a", urgent=True)
    assert metrics.adds == 1
    assert metrics.depths[-1] == 1
