"""Node-reboot rules about pods, workloads and alerts: drain and gate decisions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain import pods as pod_rules

NOW = 1_800_000_000.0


def _pod(
    name: str = "p",
    *,
    owner: str | None = "ReplicaSet",
    phase: str = "Running",
    mirror: bool = False,
    deleted: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    if mirror:
        meta["annotations"] = {pod_rules.MIRROR_ANNOTATION: "x"}
    if deleted:
        meta["deletionTimestamp"] = deleted
    return {"metadata": meta, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("pod", "skip_after", "action"),
    [
        pytest.param(_pod(), 0, pod_rules.DrainAction.EVICT, id="replicaset-pod"),
        pytest.param(_pod(owner=None), 0, pod_rules.DrainAction.EVICT, id="unmanaged-pod"),
        pytest.param(_pod(owner="DaemonSet"), 0, pod_rules.DrainAction.SKIP, id="daemonset"),
        pytest.param(_pod(owner="Node", mirror=True), 0, pod_rules.DrainAction.SKIP, id="mirror"),
        pytest.param(
            _pod(deleted=rules.rfc3339(NOW - 5)), 0, pod_rules.DrainAction.WAIT, id="deleting"
        ),
        pytest.param(
            _pod(deleted=rules.rfc3339(NOW - 5)),
            10,
            pod_rules.DrainAction.WAIT,
            id="deleting-recent",
        ),
        pytest.param(
            _pod(deleted=rules.rfc3339(NOW - 60)),
            10,
            pod_rules.DrainAction.SKIP,
            id="deleting-long",
        ),
    ],
)
def test_drain_action(
    pod: dict[str, Any], skip_after: float, action: pod_rules.DrainAction
) -> None:
    assert (
        pod_rules.drain_action(pod_rules.pod_view(pod), now=NOW, skip_wait_after=skip_after)
        == action
    )


def test_eviction_body() -> None:
    view = pod_rules.pod_view(_pod("web-1"))
    assert pod_rules.eviction_body(view, grace_period=-1) == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "ns"},
    }
    assert pod_rules.eviction_body(view, grace_period=5)["deleteOptions"] == {
        "gracePeriodSeconds": 5
    }


def test_blocking_pods_ignore_finished_ones() -> None:
    pods = [
        _pod("a"),
        _pod("b", phase="Succeeded"),
        _pod("c", phase="Failed"),
        _pod("d", phase="Pending"),
    ]
    assert pod_rules.blocking_pods(pods) == ["ns/a", "ns/d"]


# ------------------------------------------------------------------------------------ gates

ALERTS = [
    {"labels": {"alertname": "Watchdog"}, "state": "firing"},
    {"labels": {"alertname": "DiskFull"}, "state": "pending"},
    {"labels": {"alertname": "NodeDown"}, "state": "firing"},
    {"labels": {"alertname": "Old"}, "state": "inactive"},
]


@pytest.mark.parametrize(
    ("regexp", "match_only", "firing_only", "expected"),
    [
        pytest.param(None, False, False, ["DiskFull", "NodeDown", "Watchdog"], id="all-active"),
        pytest.param(None, False, True, ["NodeDown", "Watchdog"], id="firing-only"),
        pytest.param("Watchdog", False, False, ["DiskFull", "NodeDown"], id="filter-out"),
        pytest.param("^Node", True, False, ["NodeDown"], id="match-only"),
        pytest.param("Disk", True, True, [], id="match-only-firing"),
    ],
)
def test_blocking_alerts(
    regexp: str | None, match_only: bool, firing_only: bool, expected: list[str]
) -> None:
    pattern = re.compile(regexp) if regexp else None
    assert (
        pod_rules.blocking_alerts(
            ALERTS, filter_regexp=pattern, match_only=match_only, firing_only=firing_only
        )
        == expected
    )


def _deploy(spec: dict[str, Any], status: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": spec, "status": status}


DONE = {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}


@pytest.mark.parametrize(
    ("kind", "obj", "in_progress"),
    [
        pytest.param("Deployment", _deploy({"replicas": 3}, DONE), False, id="complete"),
        pytest.param("Deployment", _deploy({"replicas": 3}, DONE, 2), True, id="not-observed"),
        pytest.param(
            "Deployment", _deploy({"replicas": 3}, {**DONE, "updatedReplicas": 1}), True, id="upd"
        ),
        pytest.param(
            "Deployment", _deploy({"replicas": 3}, {**DONE, "replicas": 4}), True, id="old-left"
        ),
        pytest.param(
            "Deployment",
            _deploy({"replicas": 3}, {**DONE, "availableReplicas": 2}),
            True,
            id="unavailable",
        ),
        pytest.param(
            "Deployment",
            _deploy({"replicas": 3, "paused": True}, {**DONE, "updatedReplicas": 1}),
            False,
            id="paused",
        ),
        pytest.param(
            "Deployment",
            _deploy(
                {"replicas": 3},
                {
                    **DONE,
                    "updatedReplicas": 1,
                    "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
                },
            ),
            False,
            id="stalled",
        ),
        pytest.param(
            "StatefulSet",
            _deploy({}, {"observedGeneration": 1, "currentRevision": "a", "updateRevision": "b"}),
            True,
            id="sts-rolling",
        ),
        pytest.param(
            "StatefulSet",
            _deploy(
                {"updateStrategy": {"type": "OnDelete"}},
                {"observedGeneration": 1, "currentRevision": "a", "updateRevision": "b"},
            ),
            False,
            id="sts-on-delete",
        ),
        pytest.param(
            "StatefulSet",
            _deploy({}, {"observedGeneration": 1, "currentRevision": "a", "updateRevision": "a"}),
            False,
            id="sts-done",
        ),
    ],
)
def test_rollout_in_progress(kind: str, obj: dict[str, Any], in_progress: bool) -> None:
    assert (pod_rules.rollout_in_progress(kind, obj) is not None) is in_progress
