"""The image watcher's metrics, registered with the controller's others (docs/metrics.md).

Per registry host: requests by HTTP status (``0``: no answer), failures by reason, and request
latency; per outcome, the restarts an image update made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: ``result`` of ``reloader_image_updates_total``
UPDATE_RESULTS = ("success", "error", "held")


class ImageMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "reloader_image_registry_requests",
            "Requests to container registries, by registry host and HTTP status (0: no answer)",
            ["registry", "code"],
            registry=registry,
        )
        self.errors = Counter(
            "reloader_image_registry_errors",
            "Tag lookups that failed, by registry host and reason",
            ["registry", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "reloader_image_registry_request_duration_seconds",
            "Latency of requests to container registries, by registry host",
            ["registry"],
            registry=registry,
        )
        self.updates = Counter(
            "reloader_image_updates",
            "Restarts because a watched tag moved: done (success), failed (error), held",
            ["result"],
            registry=registry,
        )
        self.watched = Gauge(
            "reloader_image_workloads_watched",
            "Workloads with reloader.stakater.com/image-watch in the cache",
            registry=registry,
        )
        for result in UPDATE_RESULTS:
            self.updates.labels(result=result)

    def request(self, registry: str, status: int, seconds: float) -> None:
        self.requests.labels(registry=registry, code=str(status)).inc()
        self.latency.labels(registry=registry).observe(seconds)

    def failure(self, registry: str, reason: str) -> None:
        self.errors.labels(registry=registry, reason=reason).inc()
