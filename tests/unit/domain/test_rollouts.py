"""Workload state for restarts: selectors, replicas, and when a rollout has completed."""

from __future__ import annotations

from typing import Any

import pytest

from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.rollouts import (
    WorkloadState,
    label_selector,
    rollout_outcome,
    rollout_progress,
    summarize_state,
)


def _obj(kind: str, *, spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "w",
            "namespace": "ns",
            "uid": "u1",
            "resourceVersion": "7",
            "generation": status.pop("generation", 2),
            "annotations": {"keep": "1", "drop": "2"},
        },
        "spec": {"selector": {"matchLabels": {"app": "w"}}, **(spec or {})},
        "status": status,
    }


def _state(kind: str, *, spec: dict[str, Any] | None = None, **status: Any) -> WorkloadState:
    return summarize_state(KINDS[kind], _obj(kind, spec=spec, **status))


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="labels-sorted"),
        pytest.param(
            {
                "matchLabels": {"app": "w"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["a", "b"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "x", "operator": "Exists"},
                    {"key": "y", "operator": "DoesNotExist"},
                ],
            },
            "app=w,tier in (a,b),env notin (dev),x,!y",
            id="expressions",
        ),
        pytest.param({}, None, id="empty"),
        pytest.param({"matchExpressions": [{"key": "k", "operator": "Weird"}]}, None, id="bad-op"),
        pytest.param("nonsense", None, id="not-a-mapping"),
    ],
)
def test_label_selector(selector: Any, expected: str | None) -> None:
    assert label_selector(selector) == expected


def test_summarize_keeps_only_the_requested_annotations_and_the_facts() -> None:
    state = summarize_state(
        KINDS["Deployment"],
        _obj("Deployment", spec={"replicas": 3, "paused": True}, replicas=3, updatedReplicas=1),
        keep=frozenset({"keep"}),
    )
    assert state.annotations == {"keep": "1"}
    assert (state.kind, state.namespace, state.name, state.uid, state.resource_version) == (
        "Deployment",
        "ns",
        "w",
        "u1",
        "7",
    )
    assert (state.replicas, state.paused, state.selector, state.generation) == (3, True, "app=w", 2)
    assert state.status == {"replicas": 3, "updatedReplicas": 1}


@pytest.mark.parametrize(
    ("kind", "replicas"),
    [("Deployment", 1), ("StatefulSet", 1), ("Rollout", 1), ("DaemonSet", None), ("Job", None)],
)
def test_replicas_default(kind: str, replicas: int | None) -> None:
    assert _state(kind).replicas == replicas


def test_summarize_never_raises_on_a_malformed_object() -> None:
    state = summarize_state(KINDS["Deployment"], {"metadata": None, "spec": [], "status": "x"})
    assert state.name == ""
    assert rollout_progress(state).done is False


DONE = {"observedGeneration": 2}


@pytest.mark.parametrize(
    ("kind", "spec", "status", "done", "failed"),
    [
        pytest.param("Deployment", {"replicas": 3}, {"observedGeneration": 1}, False, False,
                     id="deployment-generation-not-observed"),
        pytest.param("Deployment", {"replicas": 3}, {**DONE, "updatedReplicas": 1}, False, False,
                     id="deployment-updating"),
        pytest.param("Deployment", {"replicas": 3},
                     {**DONE, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3}, False,
                     False, id="deployment-old-replica-left"),
        pytest.param("Deployment", {"replicas": 3},
                     {**DONE, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}, False,
                     False, id="deployment-not-available"),
        pytest.param("Deployment", {"replicas": 3},
                     {**DONE, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}, True,
                     False, id="deployment-done"),
        pytest.param("Deployment", {"replicas": 0}, DONE, True, False, id="deployment-zero"),
        pytest.param("Deployment", {"replicas": 1},
                     {**DONE, "conditions": [{"type": "Progressing", "status": "False",
                                              "reason": "ProgressDeadlineExceeded"}]},
                     False, True, id="deployment-deadline-exceeded"),
        pytest.param("Deployment", {"replicas": 1, "paused": True}, DONE, False, True,
                     id="deployment-paused"),
        pytest.param("StatefulSet", {"replicas": 2}, {**DONE, "readyReplicas": 1}, False, False,
                     id="statefulset-not-ready"),
        pytest.param("StatefulSet", {"replicas": 2},
                     {**DONE, "readyReplicas": 2, "currentRevision": "a", "updateRevision": "b"},
                     False, False, id="statefulset-revision-pending"),
        pytest.param("StatefulSet", {"replicas": 2},
                     {**DONE, "readyReplicas": 2, "currentRevision": "b", "updateRevision": "b"},
                     True, False, id="statefulset-done"),
        pytest.param("StatefulSet", {"replicas": 4, "updateStrategy": {
                         "type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
                     {**DONE, "readyReplicas": 4, "updatedReplicas": 2}, True, False,
                     id="statefulset-partitioned-done"),
        pytest.param("StatefulSet", {"updateStrategy": {"type": "OnDelete"}}, DONE, True, False,
                     id="statefulset-on-delete"),
        pytest.param("DaemonSet", {}, {**DONE, "desiredNumberScheduled": 3,
                                       "updatedNumberScheduled": 2, "numberAvailable": 3},
                     False, False, id="daemonset-updating"),
        pytest.param("DaemonSet", {}, {**DONE, "desiredNumberScheduled": 3,
                                       "updatedNumberScheduled": 3, "numberAvailable": 2},
                     False, False, id="daemonset-not-available"),
        pytest.param("DaemonSet", {}, {**DONE, "desiredNumberScheduled": 3,
                                       "updatedNumberScheduled": 3, "numberAvailable": 3},
                     True, False, id="daemonset-done"),
        pytest.param("Rollout", {"restartAt": "2025-01-02T03:00:00Z"},
                     {"restartedAt": "2025-01-01T00:00:00Z"}, False, False,
                     id="rollout-restart-pending"),
        pytest.param("Rollout", {"restartAt": "2025-01-02T03:00:00Z"},
                     {"restartedAt": "2025-01-02T03:00:00Z", "phase": "Healthy"}, True, False,
                     id="rollout-restarted"),
        pytest.param("Job", {}, {}, False, False, id="job-not-started"),
        pytest.param("Job", {}, {"active": 1}, True, False, id="job-running"),
        pytest.param("Job", {"suspend": True}, {}, True, False, id="job-suspended"),
        pytest.param("Job", {}, {"succeeded": 1}, True, False, id="job-succeeded"),
        pytest.param("Job", {}, {"conditions": [{"type": "Failed", "status": "True"}]}, False,
                     True, id="job-failed"),
    ],
)  # fmt: skip
def test_rollout_progress(
    kind: str, spec: dict[str, Any], status: dict[str, Any], done: bool, failed: bool
) -> None:
    progress = rollout_progress(_state(kind, spec=spec, **status))
    assert (progress.done, progress.failed) == (done, failed), progress.message
    assert progress.message


ROLLED_OUT = {"updatedReplicas": 1, "replicas": 1, "availableReplicas": 1}


@pytest.mark.parametrize(
    ("kind", "status", "done"),
    [
        pytest.param("Deployment", {"observedGeneration": 1, **ROLLED_OUT}, True,
                     id="only-our-record-write-unobserved: no rollout"),
        pytest.param("Deployment", {"observedGeneration": 0, **ROLLED_OUT}, False,
                     id="an-earlier-generation-unobserved-too: maybe a new template"),
        pytest.param("Deployment", {"observedGeneration": 1, "updatedReplicas": 0,
                                    "replicas": 2, "availableReplicas": 1}, False,
                     id="a-rollout-under-way-before-our-write"),
        pytest.param("StatefulSet", {"observedGeneration": 1, "readyReplicas": 1,
                                     "currentRevision": "a", "updateRevision": "a"}, False,
                     id="statefulset: annotations bump no generation, so the gap is not ours"),
    ],
)  # fmt: skip
def test_a_generation_bumped_by_our_record_write_alone_is_no_rollout(
    kind: str, status: dict[str, Any], done: bool
) -> None:
    """A Deployment's annotation change bumps its generation: the record write that reloader
    makes at first sight takes it from 1 to 2 before the Deployment controller has observed 2.
    """
    state = _state(kind, spec={"replicas": 1}, generation=2, **status)
    assert rollout_progress(state).done is False, "kubectl rollout status would wait"
    assert rollout_progress(state, metadata_written=True).done is done


def test_the_outcome_a_gate_and_a_wave_read() -> None:
    """Settled: done, or failed for good; a paused Deployment is settled but has not failed."""
    full = {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    done = rollout_outcome(_state("Deployment", spec={"replicas": 1}, **full))
    assert (done.settled, done.failure) == (True, "")
    rolling = rollout_outcome(_state("Deployment", spec={"replicas": 1}, observedGeneration=2))
    assert (rolling.settled, rolling.failure) == (False, "")
    stuck = rollout_outcome(
        _state(
            "Deployment",
            spec={"replicas": 1},
            observedGeneration=2,
            conditions=[
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ],
        )
    )
    assert stuck.settled
    assert "progress deadline" in stuck.failure
    paused = rollout_outcome(
        _state("Deployment", spec={"replicas": 1, "paused": True}, observedGeneration=2)
    )
    assert (paused.settled, paused.failure) == (True, "")


def test_the_progress_deadline_is_kept_when_set() -> None:
    assert _state("Deployment", spec={"progressDeadlineSeconds": 120}).progress_deadline == 120
    assert _state("Deployment").progress_deadline is None
    assert _state("Deployment", spec={"progressDeadlineSeconds": "x"}).progress_deadline is None
