"""The write-rate limit: every write takes a token; a restart takes the next one before records.

The rules (``workloads/domain/tokens.py``) are tested as data; the limiter that waits on them
(``workloads/admission.py``) on a fake clock, with the situation of a first start: every worker
waiting for a token to write a first-sight record when a change comes in.
"""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from reloader.runtime.clock import FakeClock
from reloader.workloads.admission import WriteLimiter
from reloader.workloads.domain.tokens import TokenBucket, WaitLine
from tests.unit.runtime.support import run_until, settle


def test_bucket_starts_full_then_gives_rate_tokens_per_second() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=10.0)
    assert [bucket.take(10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(10.0) == pytest.approx(0.5)  # nothing taken
    assert bucket.take(10.25) == pytest.approx(0.25)
    assert bucket.take(10.5) == 0.0
    assert bucket.take(100.0) == 0.0  # refilled to the burst, not beyond
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) > 0


def test_bucket_counts_a_token_short_by_rounding_as_whole() -> None:
    bucket = TokenBucket(rate=3.0, burst=1, now=0.0)
    assert bucket.take(0.0) == 0.0
    wait = bucket.take(0.0)
    assert bucket.take(0.0 + wait) == 0.0  # 1/3 s later, whatever the float rounding


def test_wait_line_puts_urgent_first_and_keeps_arrival_order() -> None:
    line: WaitLine[str] = WaitLine()
    assert line.head() is None
    for item in ("r1", "r2", "r3"):
        line.join(item, urgent=False)
    line.join("u1", urgent=True)
    line.join("u2", urgent=True)
    order = []
    while (head := line.head()) is not None:
        order.append(head)
        line.leave(head)
    assert order == ["u1", "u2", "r1", "r2", "r3"]
    line.join("r4", urgent=False)
    line.join("r5", urgent=False)
    line.leave("r5")  # cancelled while not at the head
    assert (line.head(), len(line)) == ("r4", 1)


class Writers:
    """Tasks that each take one token of a limiter on a fake clock and record the order they got
    it in."""

    def __init__(self, *, rate: float) -> None:
        self.clock = FakeClock()
        self.limiter = WriteLimiter(rate=rate, burst=1, clock=self.clock)
        self.order: list[str] = []

    async def write(self, name: str, *, urgent: bool = False) -> None:
        await self.limiter.acquire(urgent=urgent)
        self.order.append(name)


async def test_a_restart_gets_the_next_token_before_n_waiting_records() -> None:
    writers = Writers(rate=50.0)
    clock, limiter = writers.clock, writers.limiter
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(16):  # 16 workers, each writing a first-sight record
                tg.start_soon(writers.write, f"record-{i}")
            await settle()
            assert writers.order == ["record-0"]  # the burst
            assert limiter.waiting == 15
            clock.advance(0.02)
            await settle()
            assert writers.order == ["record-0", "record-1"]
            tg.start_soon(partial(writers.write, urgent=True), "rollout")
            await settle()
            assert limiter.waiting == 15  # 14 records and the rollout
            await run_until(clock, lambda: len(writers.order) == 3)
            assert writers.order[2] == "rollout"  # ahead of the 14 records that waited longer
            await run_until(clock, lambda: len(writers.order) == 17)
    assert writers.order[3:] == [f"record-{i}" for i in range(2, 16)]
    assert clock.monotonic() == pytest.approx(16 * 0.02)  # still one token per 20 ms: no bypass


async def test_a_cancelled_writer_at_the_head_hands_its_turn_on() -> None:
    writers = Writers(rate=1.0)
    clock, limiter = writers.clock, writers.limiter
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await writers.write("first")
            head_scope = anyio.CancelScope()
            tg.start_soon(cancellable, writers, "cancelled", head_scope)  # sleeps for the token
            await settle()
            tg.start_soon(writers.write, "next")
            await settle()
            head_scope.cancel()
            await settle()
            assert limiter.waiting == 1
            await run_until(clock, lambda: "next" in writers.order)
    assert writers.order == ["first", "next"]
    assert clock.monotonic() == pytest.approx(1.0)


async def cancellable(writers: Writers, name: str, scope: anyio.CancelScope) -> None:
    with scope:
        await writers.write(name)


async def test_no_rate_means_no_wait() -> None:
    limiter = WriteLimiter(rate=0, burst=1, clock=FakeClock())
    with anyio.fail_after(1):
        for _ in range(100):
            await limiter.acquire()
    assert limiter.waiting == 0
