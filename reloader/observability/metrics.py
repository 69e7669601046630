"""Every Prometheus metric of reloader, in one place.

Names and labels of stakater/Reloader (spec §7) are kept so dashboards keep working; every label
combination is pre-set to zero so a rate() never starts from a missing series. prometheus_client
appends ``_total`` to counters itself, so counters are declared without it.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector

WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "CronJob", "Job", "Rollout")
RESOURCE_TYPES = ("configmaps", "secrets", "namespaces", "secretproviderclasspodstatuses")
SKIP_REASONS = ("ignored_or_not_selected", "no_data_change", "strategy_not_updated")
VERBS = ("LIST", "WATCH", "GET", "CREATE", "UPDATE", "PATCH", "DELETE")


class Metrics:
    """The metric objects, registered on ``registry`` (a fresh one per process or per test)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, by_namespace: bool = False
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
        self._preset()

    def _preset(self) -> None:
        for success in ("true", "false"):
            self.reload_executed.labels(success=success)
        for result in ("success", "error", "skipped"):
            self.reconcile.labels(result=result)
            self.reconcile_duration.labels(result=result)
        for kind in WORKLOAD_KINDS:
            for result in ("success", "error"):
                self.action.labels(workload_kind=kind, result=result)
            self.action_latency.labels(workload_kind=kind)
            self.workloads_scanned.labels(kind=kind)
            self.workloads_matched.labels(kind=kind)
        for reason in SKIP_REASONS:
            self.skipped.labels(reason=reason)
        for error_type in ("handler_error", "invalid_handler_type"):
            self.errors.labels(type=error_type)
        for resource in RESOURCE_TYPES:
            for event in ("add", "update", "delete"):
                self.events_received.labels(event_type=event, resource_type=resource)
            for result in ("success", "dropped"):
                self.events_processed.labels(
                    event_type="unknown", resource_type=resource, result=result
                )
        for verb in VERBS:
            self.rest_by_verb.labels(verb=verb)

    def observe_request(self, host: str, verb: str, status: int, seconds: float) -> None:
        """Hook for the API client: one call per request (status 0 when there was no answer)."""
        method = {"LIST": "GET", "WATCH": "GET", "CREATE": "POST", "UPDATE": "PUT"}.get(verb, verb)
        self.rest_requests.labels(
            code=str(status) if status else "<error>", method=method, host=host
        ).inc()
        self.rest_duration.labels(verb=method, host=host).observe(seconds)
        self.rest_by_verb.labels(verb=verb).inc()
