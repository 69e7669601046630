"""workloads/waves.py's Waves.follow decisions that need no API server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry

from reloader.core.annotations import AnnotationNames
from reloader.runtime.clock import FakeClock
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.wave_pods import Revision
from reloader.workloads.domain.waves import WaveRecord, WaveState, record_value
from reloader.workloads.waves import WaveMetrics, Waves

if TYPE_CHECKING:
    from collections.abc import Mapping

NAMES = AnnotationNames()


@dataclass(frozen=True)
class _Subject:
    annotations: Mapping[str, str]
    kind: str = "Deployment"
    namespace: str = "ns"
    name: str = "web"
    uid: str = ""
    resource_version: str = "1"
    rollout_complete: bool = True
    rollout_failure: str = ""
    selector: str | None = "app=web"
    progress_deadline: int | None = None
    revision: Revision | None = None


class _Refusing:
    """Any use (a request, a report) fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"used {name}")


def _waves(*, dry_run: bool, clock: FakeClock | None = None) -> Waves:
    return Waves(
        client=_Refusing(),  # type: ignore[arg-type]
        names=NAMES,
        health_timeout=0,
        reporter=_Refusing(),  # type: ignore[arg-type]
        metrics=WaveMetrics(CollectorRegistry()),
        alerter=_Refusing(),  # type: ignore[arg-type]
        clock=clock or FakeClock(),
        dry_run=dry_run,
    )


async def test_a_dry_run_judges_nothing_and_writes_nothing() -> None:
    rolling = record_value(WaveRecord({"configmap/app": "h"}, 1, WaveState.ROLLING))
    result = await _waves(dry_run=True).follow(_Subject({NAMES.wave: rolling}), KINDS["Deployment"])
    assert (result.written, result.retry_after, result.settled) == (None, None, False)


async def test_a_healthy_or_absent_record_needs_no_look() -> None:
    healthy = record_value(WaveRecord({"configmap/app": "h"}, 1, WaveState.HEALTHY))
    waves = _waves(dry_run=False)
    for given in ({NAMES.wave: healthy}, {}, {NAMES.wave: "not json"}):
        result = await waves.follow(_Subject(given), KINDS["Deployment"])
        assert (result.written, result.retry_after, result.settled) == (None, None, False)


async def test_a_rollout_under_way_reads_no_pod_until_its_first_look() -> None:
    """Its status will say when it completes (the cache wakes it); its pods are read 5 s after
    the write at the earliest: the client refuses any request here."""
    clock = FakeClock()
    at = int(clock.wall())
    rolling = record_value(WaveRecord({"configmap/app": "h"}, at, WaveState.ROLLING))
    waves = _waves(dry_run=False, clock=clock)
    subject = _Subject({NAMES.wave: rolling}, rollout_complete=False)
    for _ in range(3):  # however often it is reconciled meanwhile
        result = await waves.follow(subject, KINDS["Deployment"])
        assert (result.written, result.settled) == (None, False)
        assert result.retry_after == pytest.approx(at + 5 - clock.wall())
