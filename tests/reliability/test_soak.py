"""Bounded resources: memory over a soak of steady updates, queue depth and asyncio tasks under
a flood of events.

Everything is read from outside the controller: resident memory and queue depth from /metrics
(``process_resident_memory_bytes``, ``reloader_workqueue_depth``), the number of asyncio tasks
from a test-only wrapper around ``reloader.cli.main`` (tests/reliability/task_probe.py).

- ``RELOADER_SOAK_SECONDS`` (default 120; ``make reliability`` uses 1800): soak duration;
- ``RELOADER_SOAK_RATE`` (default 4): source updates per second during the soak.

The memory slope is a least-squares fit of RSS against time over the run after a warm-up
(the first quarter, at least 30 s), reported in MB per hour.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.support import ClusterInfo, eventually
from tests.reliability.fleet import (
    Fleet,
    create_fleet,
    settle,
    update_source,
    wait_adopted,
    wait_converged,
)

REPO = Path(__file__).resolve().parents[2]
SOAK_SECONDS = float(os.environ.get("RELOADER_SOAK_SECONDS", "120"))
SOAK_RATE = float(os.environ.get("RELOADER_SOAK_RATE", "4"))
WORKLOADS = 20
MB = 1024 * 1024

#: a soak of an hour or more must show no trend; a short one only no large growth
LONG_RUN_SLOPE_LIMIT_MB_PER_H = 10.0
SHORT_RUN_GROWTH_LIMIT_MB = 8.0
#: under a flood the queue holds each workload at most once
FLOOD_UPDATES = 3000
FLOOD_WRITERS = 8


class ProbedController(ControllerProcess):
    """The controller run through ``tests.reliability.task_probe`` (asyncio task counts)."""

    def __init__(self, *, tasks_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tasks_path = tasks_path

    def start(self, *, timeout: float = 60.0) -> None:
        from tests.integration import controller as base

        self.port = base._free_port()
        cmd = [
            sys.executable,
            "-m",
            "tests.reliability.task_probe",
            str(self.tasks_path),
            f"--kubeconfig={self.kubeconfig}",
            "--log-format=json",
            f"--metrics-addr=127.0.0.1:{self.port}",
            *self.args,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"controller exited with {self.proc.returncode}")
            if self.get("/ready")[0] == 200:
                return
            time.sleep(0.1)
        raise TimeoutError(f"controller not ready after {timeout}s")

    def tasks(self, since: float = 0.0) -> list[tuple[float, int]]:
        if not self.tasks_path.exists():
            return []
        out = []
        for line in self.tasks_path.read_text().splitlines():
            at, _, count = line.partition(",")
            if float(at) >= since:
                out.append((float(at), int(count)))
        return out


def slope_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, bytes) samples, in MB per hour."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    num = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    den = sum((t - mean_t) ** 2 for t, _ in samples)
    return num / den * 3600 / MB if den else 0.0


def _rss(controller: ControllerProcess) -> float:
    return controller.metric("process_resident_memory_bytes")


async def _steady_updates(kube: KubeClient, fleet: Fleet, *, seconds: float, rate: float) -> int:
    order = sorted({src for _, src in fleet.sources.values()})
    started = time.monotonic()
    count = 0
    while time.monotonic() - started < seconds:
        due = started + count / rate
        if (delay := due - time.monotonic()) > 0:
            await anyio.sleep(delay)
        await update_source(kube, fleet, order[count % len(order)])
        count += 1
    return count


@pytest.mark.timeout(int(SOAK_SECONDS) + 900)
async def test_memory_stays_flat_over_a_soak_of_steady_updates(
    cluster: ClusterInfo, kube: KubeClient, namespace: str, tmp_path: Path, report: dict[str, Any]
) -> None:
    controller = ProbedController(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "reloader.log",
        args=[f"--namespaces={namespace}", "--log-level=info"],
        tasks_path=tmp_path / "tasks.csv",
    )
    await anyio.to_thread.run_sync(controller.start)
    samples: list[tuple[float, float]] = []
    try:
        fleet = await create_fleet(kube, namespace, WORKLOADS, history_limit=3)
        await wait_adopted(kube, fleet)
        started = time.monotonic()

        async def sample() -> None:
            while True:
                rss = await anyio.to_thread.run_sync(_rss, controller)
                samples.append((time.monotonic() - started, rss))
                await anyio.sleep(5)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            updates = await _steady_updates(kube, fleet, seconds=SOAK_SECONDS, rate=SOAK_RATE)
            tg.cancel_scope.cancel()
        converge = await wait_converged(kube, fleet)
        await settle(controller, timeout=180)
        tasks = [c for _, c in controller.tasks()]
    finally:
        assert await anyio.to_thread.run_sync(controller.stop) == 0
    warmup = max(30.0, SOAK_SECONDS / 4)
    measured = [(t, v) for t, v in samples if t >= warmup]
    assert len(measured) >= 5, samples
    slope = slope_mb_per_hour(measured)
    first = max(v for t, v in measured if t < warmup + (SOAK_SECONDS - warmup) / 4)
    last = max(v for t, v in measured if t >= SOAK_SECONDS - (SOAK_SECONDS - warmup) / 4)
    report.update(
        soak_s=SOAK_SECONDS,
        updates=updates,
        rate_per_s=SOAK_RATE,
        rss_start_mb=round(samples[0][1] / MB, 1),
        rss_after_warmup_mb=round(measured[0][1] / MB, 1),
        rss_end_mb=round(samples[-1][1] / MB, 1),
        rss_max_mb=round(max(v for _, v in samples) / MB, 1),
        slope_mb_per_hour=round(slope, 2),
        growth_last_vs_first_quarter_mb=round((last - first) / MB, 2),
        tasks_min=min(tasks, default=0),
        tasks_max=max(tasks, default=0),
        converge_after_s=round(converge, 1),
    )
    if SOAK_SECONDS >= 1800:
        assert slope <= LONG_RUN_SLOPE_LIMIT_MB_PER_H, report
    assert (last - first) / MB <= SHORT_RUN_GROWTH_LIMIT_MB, report


@pytest.mark.timeout(900)
async def test_queue_depth_and_tasks_stay_bounded_under_a_flood(
    cluster: ClusterInfo, kube: KubeClient, namespace: str, tmp_path: Path, report: dict[str, Any]
) -> None:
    controller = ProbedController(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "reloader.log",
        args=[f"--namespaces={namespace}", "--log-level=info"],
        tasks_path=tmp_path / "tasks.csv",
    )
    await anyio.to_thread.run_sync(controller.start)
    depth: list[float] = []
    try:
        fleet = await create_fleet(kube, namespace, WORKLOADS, history_limit=3)
        await wait_adopted(kube, fleet)
        await settle(controller, timeout=120)
        idle_tasks = [c for _, c in controller.tasks()][-5:]
        rss_before = await anyio.to_thread.run_sync(_rss, controller)
        flood_started = time.time()
        sources = sorted({src for _, src in fleet.sources.values()})
        remaining = FLOOD_UPDATES

        async def writer(index: int) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await update_source(kube, fleet, sources[(remaining + index) % len(sources)])

        async def sample() -> None:
            while True:
                value = await anyio.to_thread.run_sync(
                    controller.metric, "reloader_workqueue_depth"
                )
                depth.append(value)
                await anyio.sleep(0.1)

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            async with anyio.create_task_group() as writers:
                for i in range(FLOOD_WRITERS):
                    writers.start_soon(writer, i)
            flood_s = time.monotonic() - started
            converge = await wait_converged(kube, fleet)
            tg.cancel_scope.cancel()
        await settle(controller, timeout=180)
        idle_count = max(idle_tasks)

        async def back_to_idle() -> bool:
            # queued Events and alerts are still being posted for a moment after the last
            # reconcile: the count must come back, not be back at one instant
            latest = [c for _, c in controller.tasks()][-3:]
            return bool(latest) and max(latest) <= idle_count + 2

        with contextlib.suppress(AssertionError):  # reported below, with the numbers
            await eventually(back_to_idle, timeout=30, what="asyncio tasks back to idle")
        after_tasks = [c for _, c in controller.tasks()][-3:]
        flood_tasks = [c for _, c in controller.tasks(since=flood_started)]
        rss_after = await anyio.to_thread.run_sync(_rss, controller)
    finally:
        assert await anyio.to_thread.run_sync(controller.stop) == 0
    report.update(
        flood_updates=FLOOD_UPDATES,
        flood_s=round(flood_s, 1),
        updates_per_s=round(FLOOD_UPDATES / flood_s, 1),
        depth_max=max(depth),
        depth_samples=len(depth),
        tasks_idle=max(idle_tasks),
        tasks_max_during_flood=max(flood_tasks),
        tasks_after=max(after_tasks),
        rss_before_mb=round(rss_before / MB, 1),
        rss_after_mb=round(rss_after / MB, 1),
        converge_after_flood_s=round(converge, 1),
    )
    assert max(depth) <= WORKLOADS, report  # a key is queued once, however many events
    assert max(flood_tasks) <= max(idle_tasks) + 2 * WORKLOADS, report
    assert max(after_tasks) <= max(idle_tasks) + 2, report
