"""What every reload outcome leaves behind: a log line, a Kubernetes Event, metrics.

Kept apart from the reconcile logic so that each outcome is reported in one place, with
Reloader's Event reasons and messages (``Reloaded``, ``ReloadFail``) and its metric
names, plus ours (``InvalidAnnotation``, ``Paused``, ``Resumed``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from reloader.observability.metrics import SkipReason
from reloader.reload.domain.plans import PlanReason
from reloader.reload.sources import RESOURCE_NAMES
from reloader.workloads.admission import HoldReason
from reloader.workloads.reporting import NORMAL, WARNING, WorkloadReporter, ident

if TYPE_CHECKING:
    from reloader.core.objects import ObjectKey
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.observability.notify import Alerter
    from reloader.reload.domain.plans import ReloadPlan
    from reloader.reload.domain.views import WorkloadView
    from reloader.settings import Strategy
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.pipeline import RestartPipeline

log = structlog.get_logger(__name__)

HELD_MESSAGES = {
    HoldReason.LIMIT: "Reload held: the limit of rollouts in progress is reached; "
    "it waits its turn",
    HoldReason.FLAPPING: "Reload held: the previous rollout is still in progress; "
    "the newest content rolls out when it completes",
    HoldReason.WINDOW: "Reload held: outside the reload window; it rolls out when the window opens",
    HoldReason.WAVE: "Reload held: the change is shared by several workloads and rolls in "
    "health-gated waves; this workload's wave has not come yet",
    HoldReason.HALTED: "Reload halted: a workload rolled for the same change failed",
}


class Reporter(WorkloadReporter):
    def __init__(
        self,
        *,
        metrics: Metrics,
        recorder: EventRecorder,
        strategy: Strategy,
        alerter: Alerter,
        dry_run: bool = False,
    ) -> None:
        super().__init__(recorder=recorder, logger=log, dry_run=dry_run)
        self.metrics = metrics
        self.strategy = strategy
        self.alerter = alerter

    async def hold(self, view: WorkloadView, kind: WorkloadKind, reason: HoldReason) -> None:
        """A reload waits: one log line, Event and count per hold (or change of reason)."""
        self.metrics.reloads_held_total.labels(reason=reason).inc()
        await self.outcome(
            view,
            kind,
            NORMAL,
            "ReloadHeld",
            HELD_MESSAGES[reason],
            log_event="workload.reload_held",
            reason=reason,
        )

    async def release(self, view: WorkloadView, kind: WorkloadKind, reason: HoldReason) -> None:
        message = f"Reload no longer held ({reason}): rolling out the newest content"
        await self.outcome(
            view,
            kind,
            NORMAL,
            "ReloadReleased",
            message,
            log_event="workload.reload_released",
            reason=reason,
        )

    def gauges(self, pipeline: RestartPipeline) -> None:
        """The held and in-progress gauges, after any change of the pipeline's state."""
        for reason in HoldReason:
            self.metrics.reloads_held.labels(reason=reason).set(
                sum(1 for r in pipeline.held.values() if r == reason)
            )
        self.metrics.rollouts_in_progress.set(len(pipeline.gate.in_progress))

    async def warnings(
        self, key: ObjectKey, view: WorkloadView, kind: WorkloadKind, warnings: tuple[str, ...]
    ) -> None:
        """A bad annotation gets one Warning Event and log line per distinct set of problems."""
        if self.new_warnings(key, warnings):
            await self.invalid(view, kind, warnings, event="workload.annotation_invalid")

    def skipped(self, plan: ReloadPlan) -> None:
        for _source, reason in plan.skipped:
            if reason is PlanReason.NO_CONTAINER:
                self.metrics.skipped.labels(reason=SkipReason.STRATEGY_NOT_UPDATED).inc()

    async def reloaded(
        self, view: WorkloadView, kind: WorkloadKind, plan: ReloadPlan, latency: float
    ) -> None:
        m = self.metrics
        if self.dry_run:
            # Reloader's counters count real reloads only; the would_reload line is logged
            if self.first_dry_run(view, [r.hash for r in plan.rolled]):
                m.reloads.labels(workload_kind=view.kind, result="success", dry_run="true").inc()
                await self._reloaded_events(view, kind, plan, "would update")
            return
        m.reloads.labels(workload_kind=view.kind, result="success", dry_run="false").inc()
        m.workloads_matched.labels(kind=view.kind).inc()
        m.reload_executed.labels(success="true").inc()
        self._count_by_namespace("true", view.namespace)
        m.action.labels(workload_kind=view.kind, result="success").inc()
        m.action_latency.labels(workload_kind=view.kind).observe(latency)
        log.info(
            "workload.reloaded",
            **ident(view),
            strategy=self.strategy,
            sources=[f"{r.source_kind.value.lower()}/{r.name}" for r in plan.rolled],
            hashes=[r.hash[:12] for r in plan.rolled],
            reasons=[r.reason for r in plan.rolled],
        )
        for r in plan.rolled:
            self.alerter.send(
                f"Reloader detected changes in *{r.name}* of type *{r.source_kind.value}* in "
                f"namespace *{view.namespace}*. Hence reloaded *{view.name}* of type "
                f"*{view.kind}* in namespace *{view.namespace}*"
            )
        await self._reloaded_events(view, kind, plan, "Updated")

    async def _reloaded_events(
        self, view: WorkloadView, kind: WorkloadKind, plan: ReloadPlan, done: str
    ) -> None:
        for r in plan.rolled:
            await self.event(
                view,
                kind,
                NORMAL,
                "Reloaded",
                f"Changes detected in '{r.name}' of type '{r.source_kind.value}' in namespace "
                f"'{view.namespace}', {done} '{view.name}' of type '{view.kind}' in namespace "
                f"'{view.namespace}'",
                component=f"reloader-{RESOURCE_NAMES[r.source_kind]}",  # Reloader's component
            )

    def recorded(self, view: WorkloadView, plan: ReloadPlan) -> None:
        """Hashes recorded without a rollout (adopted, or a change nothing rolls for)."""
        log.debug("workload.recorded", **ident(view), adopted=list(plan.adopted))

    async def failed(
        self, view: WorkloadView, kind: WorkloadKind, plan: ReloadPlan, exc: Exception
    ) -> None:
        if not plan.rolled:
            return  # a record-only write failing is retried quietly; the worker logs it
        self.metrics.reloads.labels(workload_kind=view.kind, result="error", dry_run="false").inc()
        self.metrics.reload_executed.labels(success="false").inc()
        self._count_by_namespace("false", view.namespace)
        self.metrics.action.labels(workload_kind=view.kind, result="error").inc()
        await self.event(
            view,
            kind,
            WARNING,
            "ReloadFail",
            f"Update of {view.kind} '{view.name}' in namespace '{view.namespace}' failed "
            f"(will retry): {exc}",
        )

    async def notified(self, view: WorkloadView, kind: WorkloadKind, plan: ReloadPlan) -> None:
        sources = [f"{r.source_kind.value.lower()}/{r.name}" for r in plan.rolled]
        message = f"Changes in {', '.join(sources)} sent to the webhook (not reloaded)"
        await self.outcome(
            view,
            kind,
            NORMAL,
            "WebhookSent",
            message,
            log_event="workload.webhook_sent",
            sources=sources,
        )

    async def paused(self, view: WorkloadView, kind: WorkloadKind, period: float) -> None:
        message = f"Paused for {period:g}s after a reload (pause-period)"
        await self.outcome(
            view, kind, NORMAL, "Paused", message, log_event="workload.paused", period_s=period
        )

    async def resumed(self, view: WorkloadView, kind: WorkloadKind) -> None:
        message = "Pause period ended: rollout resumed"
        await self.outcome(view, kind, NORMAL, "Resumed", message, log_event="workload.resumed")

    def _count_by_namespace(self, success: str, namespace: str) -> None:
        gauge = self.metrics.reload_executed_by_namespace
        if gauge is not None:
            gauge.labels(success=success, namespace=namespace).inc()
