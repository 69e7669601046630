"""The controller's metrics: label values defined above observability are pre-set from there."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from reloader.app import controller_metrics
from reloader.workloads.admission import HoldReason
from reloader.workloads.domain.kinds import KINDS


def _labels(registry: CollectorRegistry, sample: str, label: str) -> set[str]:
    return {
        s.labels[label]
        for family in registry.collect()
        for s in family.samples
        if s.name == sample and label in s.labels
    }


def test_every_kind_of_the_kinds_table_is_a_preset_label() -> None:
    registry = CollectorRegistry()
    controller_metrics(registry)
    assert _labels(registry, "reloader_action_total", "workload_kind") == set(KINDS)
    assert _labels(registry, "reloader_workloads_scanned_total", "kind") == set(KINDS)


def test_hold_reasons_and_restart_methods_are_preset() -> None:
    registry = CollectorRegistry()
    controller_metrics(registry)
    assert _labels(registry, "reloader_held_reloads", "reason") == set(HoldReason)
    methods = _labels(registry, "reloader_scheduled_restarts_total", "method")
    assert methods == {"rolling", "stop-start"}
