"""Helpers for driving runtime code on a FakeClock, deterministically."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
from anyio.lowlevel import checkpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from reloader.runtime.clock import FakeClock


async def settle() -> None:
    """Let every other task run until it blocks (on the FakeClock, an event, a stream, ...).

    ``wait_all_tasks_blocked`` alone is exact but polls every 0.1 s of real time while some task
    is still runnable; yielding a few loop iterations first makes that poll a formality.
    """
    for _ in range(64):
        await checkpoint()
    await anyio.wait_all_tasks_blocked()


async def run_until(
    clock: FakeClock, condition: Callable[[], bool], *, max_steps: int = 10_000
) -> None:
    """Jump the clock from one sleeper's deadline to the next until ``condition()`` holds."""
    for _ in range(max_steps):
        await settle()
        if condition():
            return
        deadline = clock.next_deadline()
        assert deadline is not None, "condition not met and nothing is sleeping"
        clock.advance_to(deadline)
    raise AssertionError("condition not met within max_steps")


@dataclass
class RecordingQueueMetrics:
    adds: int = 0
    retries: int = 0
    depths: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    def on_add(self) -> None:
        self.adds += 1

    def on_depth(self, depth: int) -> None:
        self.depths.append(depth)

    def on_queue_latency(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def on_work_duration(self, seconds: float) -> None:
        self.durations.append(seconds)

    def on_retry(self) -> None:
        self.retries += 1


@dataclass
class RecordingHooks:
    results: list[tuple[str, float]] = field(default_factory=list)

    def on_reconcile(self, result: str, seconds: float) -> None:
        self.results.append((result, seconds))
