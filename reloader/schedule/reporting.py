"""What every scheduled-restart outcome leaves behind: one log line, one Event, metrics.

Log event names are constants (``schedule.restarted``, ``schedule.skipped``, …); Event reasons
are ``ScheduleActive``, ``ScheduledRestart``, ``ScheduledRestartSkipped``,
``ScheduledRestartFailed``, ``ScheduledRestartWaiting``, ``StopStartScaledDown``,
``StopStartScaledUp``, ``StopStartAbandoned``, ``ScheduledRestartSlow`` and
``InvalidAnnotation`` (docs/schedules.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from reloader.core.durations import format_time
from reloader.workloads.reporting import NORMAL, WARNING, WorkloadReporter, ident

if TYPE_CHECKING:
    from datetime import datetime

    from reloader.core.objects import ObjectKey
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.schedule.domain.schedules import Schedule
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.rollouts import WorkloadState
    from reloader.workloads.pipeline import RestartPipeline

log = structlog.get_logger(__name__)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds / 3600:.1f}h"


class ScheduleReporter(WorkloadReporter):
    def __init__(self, *, metrics: Metrics, recorder: EventRecorder) -> None:
        super().__init__(recorder=recorder, logger=log)
        self.metrics = metrics

    def gauges(self, pipeline: RestartPipeline) -> None:
        """The in-progress and waiting gauges, after any change of the pipeline's state."""
        self.metrics.scheduled_restarts_in_progress.set(len(pipeline.gate.in_progress))
        self.metrics.scheduled_restarts_waiting.set(len(pipeline.held))

    async def warnings(
        self,
        key: ObjectKey,
        state: WorkloadState,
        kind: WorkloadKind,
        warnings: tuple[str, ...],
        *,
        unusable: bool,
    ) -> None:
        """One Warning Event and log line per distinct set of problems (not per reconcile)."""
        if not self.new_warnings(key, warnings):
            return
        if unusable:
            self.metrics.scheduled_restart_skipped.labels(reason="invalid_annotation").inc()
        await self.invalid(state, kind, warnings, event="schedule.annotation_invalid")

    async def adopted(
        self, state: WorkloadState, kind: WorkloadKind, schedule: Schedule, due: datetime | None
    ) -> None:
        next_text = format_time(due) if due is not None else "never"
        log.info(
            "schedule.adopted",
            **ident(state),
            schedule=schedule.expression,
            timezone=schedule.timezone,
            method=schedule.method.value,
            next_restart=next_text,
        )
        await self.event(
            state,
            kind,
            NORMAL,
            "ScheduleActive",
            f"Restart schedule {schedule.expression!r} ({schedule.timezone}, "
            f"{schedule.method.value}) active; next restart at {next_text}",
        )

    async def restarted(
        self,
        state: WorkloadState,
        kind: WorkloadKind,
        schedule: Schedule,
        *,
        slot: datetime,
        late: float,
        job: str | None = None,
    ) -> None:
        self.metrics.scheduled_restarts.labels(method=schedule.method.value, result="success").inc()
        log.info(
            "schedule.restarted",
            **ident(state),
            method=schedule.method.value,
            slot=format_time(slot),
            late_s=round(late, 1),
            job=job,
        )
        caught_up = f", caught up {_duration(late)} late" if late >= 60 else ""
        what = f" (Job {job})" if job else ""
        await self.event(
            state,
            kind,
            NORMAL,
            "ScheduledRestart",
            f"Restarted ({schedule.method.value}){what} for the scheduled slot "
            f"{format_time(slot)} of {schedule.expression!r} ({schedule.timezone}){caught_up}",
        )

    async def skipped(
        self,
        state: WorkloadState,
        kind: WorkloadKind,
        schedule: Schedule,
        *,
        slot: datetime,
        late: float,
        deadline: float,
    ) -> None:
        self.metrics.scheduled_restart_skipped.labels(reason="missed_deadline").inc()
        log.warning(
            "schedule.skipped",
            **ident(state),
            slot=format_time(slot),
            late_s=round(late, 1),
            deadline_s=deadline,
            reason="missed_deadline",
        )
        await self.event(
            state,
            kind,
            WARNING,
            "ScheduledRestartSkipped",
            f"Scheduled restart for the slot {format_time(slot)} of {schedule.expression!r} "
            f"skipped: missed by {_duration(late)}, more than the deadline of "
            f"{_duration(deadline)} (earlier missed slots, if any, are skipped too)",
        )

    async def failed(
        self, state: WorkloadState, kind: WorkloadKind, schedule: Schedule, exc: Exception
    ) -> None:
        self.metrics.scheduled_restarts.labels(method=schedule.method.value, result="error").inc()
        log.warning(
            "schedule.restart_failed", **ident(state), method=schedule.method.value, error=str(exc)
        )
        await self.event(
            state,
            kind,
            WARNING,
            "ScheduledRestartFailed",
            f"Scheduled restart ({schedule.method.value}) failed (will retry): {exc}",
        )

    async def scaled_down(self, state: WorkloadState, kind: WorkloadKind, replicas: int) -> None:
        log.info("schedule.scaled_down", **ident(state), replicas=replicas)
        await self.event(
            state,
            kind,
            NORMAL,
            "StopStartScaledDown",
            f"Stop-start restart: scaled from {replicas} to 0 replicas; scaling back once "
            "the pods are gone",
        )

    async def scaled_up(self, state: WorkloadState, kind: WorkloadKind, replicas: int) -> None:
        log.info("schedule.scaled_up", **ident(state), replicas=replicas)
        await self.event(
            state,
            kind,
            NORMAL,
            "StopStartScaledUp",
            f"Stop-start restart: pods gone, scaled back to {replicas} replicas",
        )

    async def waiting(self, state: WorkloadState, kind: WorkloadKind, limit: int) -> None:
        log.info("schedule.waiting_for_slot", **ident(state), limit=limit)
        await self.event(
            state,
            kind,
            NORMAL,
            "ScheduledRestartWaiting",
            f"Scheduled restart due, waiting: {limit} scheduled restart(s) already rolling out "
            "(--schedule-max-concurrent)",
        )

    async def abandoned(self, state: WorkloadState, kind: WorkloadKind) -> None:
        log.warning("schedule.stop_start_abandoned", **ident(state), replicas=state.replicas)
        await self.event(
            state,
            kind,
            WARNING,
            "StopStartAbandoned",
            f"Stop-start restart not finished by reloader: the replicas were set to "
            f"{state.replicas} meanwhile; that count stands",
        )

    async def slow(self, state: WorkloadState, kind: WorkloadKind, seconds: float) -> None:
        log.warning("schedule.rollout_slow", **ident(state), waited_s=round(seconds))
        await self.event(
            state,
            kind,
            WARNING,
            "ScheduledRestartSlow",
            f"Rollout of the scheduled restart not complete after {_duration(seconds)}; "
            "no longer counted against --schedule-max-concurrent",
        )
