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
from reloader.observability.metrics import ScheduleSkipReason
from reloader.workloads.reporting import NORMAL, WARNING, WorkloadReporter

if TYPE_CHECKING:
    from datetime import datetime

    from reloader.core.objects import ObjectKey
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.schedule.domain.schedules import Schedule
    from reloader.workloads.domain.hooks import Hook, HookPoint
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.rollouts import WorkloadState
    from reloader.workloads.hooks import HookOutcome
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
    def __init__(self, *, metrics: Metrics, recorder: EventRecorder, dry_run: bool = False) -> None:
        super().__init__(recorder=recorder, logger=log, dry_run=dry_run)
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
            self.metrics.scheduled_restart_skipped.labels(
                reason=ScheduleSkipReason.INVALID_ANNOTATION
            ).inc()
        await self.invalid(state, kind, warnings, event="schedule.annotation_invalid")

    async def adopted(
        self, state: WorkloadState, kind: WorkloadKind, schedule: Schedule, due: datetime | None
    ) -> None:
        next_text = format_time(due) if due is not None else "never"
        await self.outcome(
            state,
            kind,
            NORMAL,
            "ScheduleActive",
            f"Restart schedule {schedule.expression!r} ({schedule.timezone}, "
            f"{schedule.method.value}) active; next restart at {next_text}",
            log_event="schedule.adopted",
            schedule=schedule.expression,
            timezone=schedule.timezone,
            method=schedule.method.value,
            next_restart=next_text,
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
        method = schedule.method.value
        caught_up = f", caught up {_duration(late)} late" if late >= 60 else ""
        what = f" (Job {job})" if job else ""
        message = (
            f"({method}){what} for the scheduled slot "
            f"{format_time(slot)} of {schedule.expression!r} ({schedule.timezone}){caught_up}"
        )
        if self.dry_run:  # the would_reload line is logged; counted once per slot
            if self.first_dry_run(state, format_time(slot)):
                restarts = self.metrics.scheduled_restarts
                restarts.labels(method=method, result="success", dry_run="true").inc()
                await self.event(
                    state, kind, NORMAL, "ScheduledRestart", f"Would restart {message}"
                )
            return
        self.metrics.scheduled_restarts.labels(
            method=method, result="success", dry_run="false"
        ).inc()
        await self.outcome(
            state,
            kind,
            NORMAL,
            "ScheduledRestart",
            f"Restarted {message}",
            log_event="schedule.restarted",
            method=method,
            slot=format_time(slot),
            late_s=round(late, 1),
            job=job,
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
        self.metrics.scheduled_restart_skipped.labels(
            reason=ScheduleSkipReason.MISSED_DEADLINE
        ).inc()
        await self.outcome(
            state,
            kind,
            WARNING,
            "ScheduledRestartSkipped",
            f"Scheduled restart for the slot {format_time(slot)} of {schedule.expression!r} "
            f"skipped: missed by {_duration(late)}, more than the deadline of "
            f"{_duration(deadline)} (earlier missed slots, if any, are skipped too)",
            log_event="schedule.skipped",
            slot=format_time(slot),
            late_s=round(late, 1),
            deadline_s=deadline,
            reason=ScheduleSkipReason.MISSED_DEADLINE,
        )

    async def failed(
        self, state: WorkloadState, kind: WorkloadKind, schedule: Schedule, exc: Exception
    ) -> None:
        method = schedule.method.value
        self.metrics.scheduled_restarts.labels(method=method, result="error", dry_run="false").inc()
        await self.outcome(
            state,
            kind,
            WARNING,
            "ScheduledRestartFailed",
            f"Scheduled restart ({method}) failed (will retry): {exc}",
            log_event="schedule.restart_failed",
            method=method,
            error=str(exc),
        )

    async def scaled_down(self, state: WorkloadState, kind: WorkloadKind, replicas: int) -> None:
        message = (
            f"Stop-start restart: scaled from {replicas} to 0 replicas; scaling back once "
            "the pods are gone"
        )
        await self.outcome(
            state,
            kind,
            NORMAL,
            "StopStartScaledDown",
            message,
            log_event="schedule.scaled_down",
            replicas=replicas,
        )

    async def scaled_up(self, state: WorkloadState, kind: WorkloadKind, replicas: int) -> None:
        message = f"Stop-start restart: pods gone, scaled back to {replicas} replicas"
        await self.outcome(
            state,
            kind,
            NORMAL,
            "StopStartScaledUp",
            message,
            log_event="schedule.scaled_up",
            replicas=replicas,
        )

    async def waiting(self, state: WorkloadState, kind: WorkloadKind, limit: int) -> None:
        message = (
            f"Scheduled restart due, waiting: {limit} scheduled restart(s) already rolling out "
            "(--schedule-max-concurrent)"
        )
        await self.outcome(
            state,
            kind,
            NORMAL,
            "ScheduledRestartWaiting",
            message,
            log_event="schedule.waiting_for_slot",
            limit=limit,
        )

    async def abandoned(self, state: WorkloadState, kind: WorkloadKind) -> None:
        message = (
            f"Stop-start restart not finished by reloader: the replicas were set to "
            f"{state.replicas} meanwhile; that count stands"
        )
        await self.outcome(
            state,
            kind,
            WARNING,
            "StopStartAbandoned",
            message,
            log_event="schedule.stop_start_abandoned",
            replicas=state.replicas,
        )

    async def slow(self, state: WorkloadState, kind: WorkloadKind, seconds: float) -> None:
        message = (
            f"Rollout of the scheduled restart not complete after {_duration(seconds)}; "
            "no longer counted against --schedule-max-concurrent"
        )
        await self.outcome(
            state,
            kind,
            WARNING,
            "ScheduledRestartSlow",
            message,
            log_event="schedule.rollout_slow",
            waited_s=round(seconds),
        )

    async def hook(
        self,
        state: WorkloadState,
        kind: WorkloadKind,
        point: HookPoint,
        hook: Hook,
        outcome: HookOutcome,
    ) -> None:
        """A hook finished: ``HookSucceeded``, or a ``HookFailed`` Warning that says what the
        failure does at this point. The command's output is never included."""
        ok = outcome.result == "success"
        type_ = "job" if hook.describe().startswith("job") else "exec"
        self.metrics.hook_runs.labels(point=point.value, type=type_, result=outcome.result).inc()
        consequence = "" if ok else _HOOK_FAILURE[point.value]
        await self.outcome(
            state,
            kind,
            NORMAL if ok else WARNING,
            "HookSucceeded" if ok else "HookFailed",
            f"{point.value}-hook {hook.describe()!r}: {outcome.message}{consequence}",
            log_event="hook.succeeded" if ok else "hook.failed",
            point=point.value,
            hook=hook.describe(),
            result=outcome.result,
            detail=outcome.message,
        )

    async def halted(self, state: WorkloadState, kind: WorkloadKind) -> None:
        await self.outcome(
            state,
            kind,
            WARNING,
            "StopStartHalted",
            "Stop-start restart halted at 0 replicas: the stopped-hook failed and the workload "
            "asks to stay stopped (hook-stopped-on-failure: stay-stopped); scale it up to resume",
            log_event="hook.halted",
        )


_HOOK_FAILURE = {
    "before": "; the restart is held and the hook tried again",
    "stopped": "; scaling back up unless the workload asks to stay stopped",
    "after": "; nothing else changes",
}
