from __future__ import annotations

import anyio
import pytest

from reloader.runtime.clock import FakeClock, RealClock
from tests.unit.runtime.support import settle


async def test_fake_sleep_wakes_only_when_its_deadline_is_reached(clock: FakeClock) -> None:
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper, "late", 5.0)
            tg.start_soon(sleeper, "early", 2.0)
            await settle()
            assert clock.sleepers == 2
            clock.advance(1.999)
            await settle()
            assert woke == []
            clock.advance(0.001)
            await settle()
            assert woke == ["early"]
            clock.advance(10)
            await settle()
    assert woke == ["early", "late"]
    assert clock.monotonic() == pytest.approx(12.0)


async def test_fake_advance_wakes_due_sleepers_in_deadline_order(clock: FakeClock) -> None:
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(seconds)

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            for seconds in (3.0, 1.0, 2.0):
                tg.start_soon(sleeper, seconds)
            await settle()
            assert clock.next_deadline() == 1.0
            clock.advance(3)
    assert woke == [1.0, 2.0, 3.0]


async def test_fake_cancelled_sleep_is_forgotten(clock: FakeClock) -> None:
    with anyio.fail_after(2):
        with anyio.move_on_after(0):
            await clock.sleep(10)  # cancelled at once, real time never passes here
        assert clock.sleepers == 0
        assert clock.next_deadline() is None


async def test_fake_zero_sleep_is_only_a_checkpoint(clock: FakeClock) -> None:
    with anyio.fail_after(2):
        await clock.sleep(0)
        await clock.sleep(-1)
    assert clock.monotonic() == 0.0
    assert clock.sleepers == 0


def test_fake_wall_clock_follows_advances() -> None:
    clock = FakeClock(start=100.0, wall_start=1_000.0)
    clock.advance(2.5)
    assert clock.monotonic() == 102.5
    assert clock.wall() == 1_002.5
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_real_clock_reads_process_clocks() -> None:
    clock = RealClock()
    before = clock.monotonic()
    with anyio.fail_after(2):
        await clock.sleep(0)
    assert clock.monotonic() >= before
    assert clock.wall() > 1_600_000_000
