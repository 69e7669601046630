"""Every Prometheus metric of reloader, in one place.

Names and labels of stakater/Reloader are kept so dashboards keep working; every label
combination is pre-set to zero so a rate() never starts from a missing series. prometheus_client
appends ``_total`` to counters itself, so counters are declared without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector

RESOURCE_TYPES = ("configmaps", "secrets", "namespaces", "secretproviderclasspodstatuses")
VERBS = ("LIST", "WATCH", "GET", "CREATE", "UPDATE", "PATCH", "DELETE")


class SkipReason(StrEnum):
    """``reloader_skipped_total{reason}``: Reloader's reasons a source did not reload."""

    IGNORED_OR_NOT_SELECTED = "ignored_or_not_selected"
    NO_DATA_CHANGE = "no_data_change"
    STRATEGY_NOT_UPDATED = "strategy_not_updated"


class ScheduleSkipReason(StrEnum):
    """``reloader_scheduled_restart_skipped_total{reason}``."""

    MISSED_DEADLINE = "missed_deadline"
    INVALID_ANNOTATION = "invalid_annotation"


class Metrics:
    """The metric objects, registered on ``registry`` (a fresh one per process or per test).

    Label values that the layers above define are given, to be pre-set like every label:
    ``workload_kinds`` (``kind``, ``workload_kind``: the kinds table), ``hold_reasons`` (held
    reloads) and ``restart_methods`` (scheduled restarts).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        workload_kinds: Iterable[str],
        hold_reasons: Iterable[str],
        restart_methods: Iterable[str],
        by_namespace: bool = False,
    ) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.reload_executed = Counter(
            "reloader_reload_executed", "Reloads executed, by success", ["success"], registry=r
        )
        # Reloader's name has no _total suffix a counter could carry; a gauge keeps the name.
        self.reload_executed_by_namespace = (
            Gauge(
                "reloader_reload_executed_total_by_namespace",
                "Reloads executed, by success and namespace (METRICS_COUNT_BY_NAMESPACE=enabled)",
                ["success", "namespace"],
                registry=r,
            )
            if by_namespace
            else None
        )
        self.reconcile = Counter(
            "reloader_reconcile", "Reconciles of a workload, by result", ["result"], registry=r
        )
        self.reconcile_duration = Histogram(
            "reloader_reconcile_duration_seconds",
            "Time to reconcile one workload",
            ["result"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.action = Counter(
            "reloader_action",
            "Writes to workloads, by kind and result",
            ["workload_kind", "result"],
            registry=r,
        )
        self.action_latency = Histogram(
            "reloader_action_latency_seconds",
            "From the source change being observed to the workload write completing",
            ["workload_kind"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.skipped = Counter(
            "reloader_skipped",
            "Sources that did not reload a workload, by reason",
            ["reason"],
            registry=r,
        )
        self.workqueue_depth = Gauge(
            "reloader_workqueue_depth", "Workloads waiting in the work queue", registry=r
        )
        self.workqueue_adds = Counter(
            "reloader_workqueue_adds", "Workloads added to the work queue", registry=r
        )
        self.workqueue_latency = Histogram(
            "reloader_workqueue_latency_seconds",
            "Time a workload waited in the queue once ready",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.schedule_queue_depth = Gauge(
            "reloader_schedule_workqueue_depth",
            "Workloads waiting in the schedule controller's work queue",
            registry=r,
        )
        self.schedule_queue_adds = Counter(
            "reloader_schedule_workqueue_adds",
            "Workloads added to the schedule controller's work queue",
            registry=r,
        )
        self.schedule_queue_latency = Histogram(
            "reloader_schedule_workqueue_latency_seconds",
            "Time a workload waited in the schedule controller's queue once ready",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.errors = Counter("reloader_errors", "Errors, by type", ["type"], registry=r)
        self.retries = Counter("reloader_retries", "Reconciles retried with backoff", registry=r)
        self.events_received = Counter(
            "reloader_events_received",
            "Watch events received",
            ["event_type", "resource_type"],
            registry=r,
        )
        self.events_processed = Counter(
            "reloader_events_processed",
            "Watch events mapped to workloads",
            ["event_type", "resource_type", "result"],
            registry=r,
        )
        self.workloads_scanned = Counter(
            "reloader_workloads_scanned", "Workloads looked at for a change", ["kind"], registry=r
        )
        self.workloads_matched = Counter(
            "reloader_workloads_matched",
            "Workloads that a change applied to",
            ["kind"],
            registry=r,
        )
        self.rest_requests = Counter(
            "rest_client_requests",
            "Requests to the Kubernetes API",
            ["code", "method", "host"],
            registry=r,
        )
        self.rest_duration = Histogram(
            "rest_client_request_duration_seconds",
            "Kubernetes API request latency",
            ["verb", "host"],
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30),
            registry=r,
        )
        self.rollouts_in_progress = Gauge(
            "reloader_rollouts_in_progress",
            "Rollouts started by reloader that their workload has not reported complete yet",
            registry=r,
        )
        self.reloads_held = Gauge(
            "reloader_held_reloads",
            "Workloads whose reload is held back now, by reason",
            ["reason"],
            registry=r,
        )
        self.reloads_held_total = Counter(
            "reloader_reloads_held",
            "Reloads held back, by reason (limit, flapping, window)",
            ["reason"],
            registry=r,
        )
        self.is_leader = Gauge(
            "reloader_is_leader",
            "1 while this replica runs the workers (always 1 without HA)",
            registry=r,
        )
        self.rest_by_verb = Counter(
            "reloader_api_requests",
            "Kubernetes API requests by verb (LIST, WATCH, GET, ...)",
            ["verb"],
            registry=r,
        )
        self.protobuf_fallbacks = Counter(
            "reloader_protobuf_list_fallbacks",
            "Watches whose LISTs fell back from protobuf to JSON after an unreadable answer",
            ["resource"],
            registry=r,
        )
        # scheduled restarts (docs/schedules.md)
        self.scheduled_restarts = Counter(
            "reloader_scheduled_restarts",
            "Scheduled restarts performed (success) or whose write failed (error), by method; "
            "dry_run=true: restarts a dry run would have written",
            ["method", "result", "dry_run"],
            registry=r,
        )
        self.reloads = Counter(
            "reloader_reloads",
            "Reloads written (success) or whose write failed (error), by kind; dry_run=true: "
            "reloads a dry run would have written (reloader_action_total counts real ones only)",
            ["workload_kind", "result", "dry_run"],
            registry=r,
        )
        self.scheduled_restart_skipped = Counter(
            "reloader_scheduled_restart_skipped",
            "Scheduled restarts not performed, by reason",
            ["reason"],
            registry=r,
        )
        self.scheduled_restarts_in_progress = Gauge(
            "reloader_scheduled_restarts_in_progress",
            "Scheduled restarts whose rollout (or stop-start) has not completed yet",
            registry=r,
        )
        self.scheduled_restarts_waiting = Gauge(
            "reloader_scheduled_restarts_waiting",
            "Scheduled restarts due but waiting for --schedule-max-concurrent",
            registry=r,
        )
        # restart hooks (docs/hooks.md)
        self.hook_runs = Counter(
            "reloader_hook_runs",
            "Restart hooks that finished, by hook point, type (job, exec) and result",
            ["point", "type", "result"],
            registry=r,
        )
        self._preset(list(workload_kinds), list(hold_reasons), list(restart_methods))

    def _preset(
        self, workload_kinds: list[str], hold_reasons: list[str], restart_methods: list[str]
    ) -> None:
        for success in ("true", "false"):
            self.reload_executed.labels(success=success)
        for result in ("success", "error", "skipped"):
            self.reconcile.labels(result=result)
            self.reconcile_duration.labels(result=result)
        for kind in workload_kinds:
            for result in ("success", "error"):
                self.action.labels(workload_kind=kind, result=result)
                for dry_run in ("false", "true"):
                    self.reloads.labels(workload_kind=kind, result=result, dry_run=dry_run)
            self.action_latency.labels(workload_kind=kind)
            self.workloads_scanned.labels(kind=kind)
            self.workloads_matched.labels(kind=kind)
        for reason in SkipReason:
            self.skipped.labels(reason=reason)
        for error_type in ("handler_error", "invalid_handler_type", "job_journal"):
            self.errors.labels(type=error_type)
        for resource in RESOURCE_TYPES:
            for event in ("add", "update", "delete"):
                self.events_received.labels(event_type=event, resource_type=resource)
            for result in ("success", "dropped"):
                self.events_processed.labels(
                    event_type="unknown", resource_type=resource, result=result
                )
        for hold in hold_reasons:
            self.reloads_held.labels(reason=hold)
            self.reloads_held_total.labels(reason=hold)
        for verb in VERBS:
            self.rest_by_verb.labels(verb=verb)
        for listed in ("configmaps", "secrets"):  # the resources listed in protobuf
            self.protobuf_fallbacks.labels(resource=listed)
        for method in restart_methods:
            for result in ("success", "error"):
                for dry_run in ("false", "true"):
                    self.scheduled_restarts.labels(method=method, result=result, dry_run=dry_run)
        for schedule_skip in ScheduleSkipReason:
            self.scheduled_restart_skipped.labels(reason=schedule_skip)
        for point in ("before", "stopped", "after"):
            for type_ in ("job", "exec"):
                for result in ("success", "failure", "timeout"):
                    self.hook_runs.labels(point=point, type=type_, result=result)

    def observe_request(self, host: str, verb: str, status: int, seconds: float) -> None:
        """Hook for the API client: one call per request (status 0 when there was no answer)."""
        method = {"LIST": "GET", "WATCH": "GET", "CREATE": "POST", "UPDATE": "PUT"}.get(verb, verb)
        self.rest_requests.labels(
            code=str(status) if status else "<error>", method=method, host=host
        ).inc()
        self.rest_duration.labels(verb=method, host=host).observe(seconds)
        self.rest_by_verb.labels(verb=verb).inc()


# ----------------------------------------------------------------------------- node reboots
# `reloader node-agent` (docs/node-reboots.md): its own registry and class; nothing above uses it.

REBOOT_RESULTS = (
    "success",  # the node came back with a new boot ID and the sentinel gone
    "sentinel_remains",  # it came back but the sentinel is still there
    "drain_failed",  # the drain failed or timed out: node restored, lock released
    "command_failed",  # the reboot command or signal failed
    "not_rebooted",  # the agent restarted on the same boot after the reboot was issued
    "lock_lost",  # another node wrote this one off while it was draining
    "lock_expired",  # this node wrote off a holder that never came back
)
REBOOT_BLOCK_REASONS = ("window", "pods", "alerts", "rollouts", "lock", "loop_guard")
#: steps of the node agent whose failure is logged and retried at the next check
NODE_ERROR_STEPS = ("check", "mark", "crash")


class RebootMetrics:
    """Metrics of the node agent; ``kured_reboot_required`` keeps kured's name for dashboards."""

    def __init__(self, node: str, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.node = node
        self.kured_reboot_required = Gauge(
            "kured_reboot_required",
            "OS requires reboot due to software updates (kured's metric).",
            ["node"],
            registry=r,
        )
        self.reboot_required = Gauge(
            "reloader_node_reboot_required",
            "1 while the sentinel says this node needs a reboot",
            ["node"],
            registry=r,
        )
        self.lock_held = Gauge(
            "reloader_node_reboot_lock_held",
            "1 while this node holds a reboot lock slot",
            ["node"],
            registry=r,
        )
        self.loop_stopped = Gauge(
            "reloader_node_reboot_loop_stopped",
            "1 while reboots are stopped because the sentinel survived --reboot-loop-limit reboots",
            ["node"],
            registry=r,
        )
        self.drain_duration = Histogram(
            "reloader_node_drain_duration_seconds",
            "Time to drain this node, by result",
            ["result"],
            buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.reboots = Counter(
            "reloader_node_reboots", "Reboot attempts by result", ["result"], registry=r
        )
        self.blocked = Counter(
            "reloader_node_reboot_blocked",
            "Checks where a needed reboot was held back, by reason",
            ["reason"],
            registry=r,
        )
        self.errors = Counter(
            "reloader_node_errors",
            "Failures retried at the next check, by step (check: an API or host error; mark: a "
            "taint/annotation write; crash: a bug, logged with its traceback)",
            ["step"],
            registry=r,
        )
        for step in NODE_ERROR_STEPS:
            self.errors.labels(step=step)
        for gauge in (self.kured_reboot_required, self.reboot_required, self.lock_held):
            gauge.labels(node=node).set(0)
        self.loop_stopped.labels(node=node).set(0)
        for result in ("success", "failed"):
            self.drain_duration.labels(result=result)
        for result in REBOOT_RESULTS:
            self.reboots.labels(result=result)
        for reason in REBOOT_BLOCK_REASONS:
            self.blocked.labels(reason=reason)

    def set_required(self, required: bool) -> None:
        self.kured_reboot_required.labels(node=self.node).set(int(required))
        self.reboot_required.labels(node=self.node).set(int(required))


class QueueMetricsHooks:
    """A work queue's metric hooks (runtime.queue.QueueMetrics): the reload queue feeds Reloader's
    workqueue metrics, the schedule queue ``reloader_schedule_workqueue_*``; retries of both
    count in ``reloader_retries_total``."""

    def __init__(self, metrics: Metrics, *, schedule: bool = False) -> None:
        self._adds = metrics.schedule_queue_adds if schedule else metrics.workqueue_adds
        self._depth = metrics.schedule_queue_depth if schedule else metrics.workqueue_depth
        self._latency = metrics.schedule_queue_latency if schedule else metrics.workqueue_latency
        self._retries = metrics.retries

    def on_add(self) -> None:
        self._adds.inc()

    def on_depth(self, depth: int) -> None:
        self._depth.set(depth)

    def on_queue_latency(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def on_work_duration(self, seconds: float) -> None:
        pass  # reloader_reconcile_duration_seconds covers it, with the result

    def on_retry(self) -> None:
        self._retries.inc()
