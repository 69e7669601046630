"""A rolled target's pods in a wave's verdict (``workloads/domain/wave_pods.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.rollouts import summarize_state
from reloader.workloads.domain.wave_pods import (
    Revision,
    is_new,
    look_due,
    new_pod_problem,
    next_look,
    pod_problem,
    replica_set_hash,
    revision_of,
)

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z
SAME_SECOND = "2023-11-14T22:13:20Z"
BEFORE = "2023-11-14T22:13:18Z"
AFTER = "2023-11-14T22:13:25Z"
CRASH: dict[str, Any] = {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 3}


def _pod(created: str, labels: dict[str, str] | None = None, **container: Any) -> dict[str, Any]:
    status = {"name": "app", "restartCount": 0, **container}
    return {
        "metadata": {"name": "web-1", "creationTimestamp": created, "labels": labels or {}},
        "status": {"containerStatuses": [status]},
    }


def _state(
    kind: str, *, generation: int = 3, observed: int = 3, revision: str = "", **parts: Any
) -> Any:
    meta = {"name": "web", "namespace": "ns", "generation": generation, "uid": "u1"}
    if revision:
        meta["annotations"] = {"deployment.kubernetes.io/revision": revision}
    obj = {
        "metadata": meta,
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **parts.pop("spec", {})},
        "status": {"observedGeneration": observed, **parts.pop("status", {})},
        **parts,
    }
    return summarize_state(KINDS[kind], obj)


# ---------------------------------------------------------------------------- revision per kind
def test_a_deployment_s_revision_is_its_newest_replica_set_s_hash() -> None:
    state = _state("Deployment", revision="4")
    assert revision_of(state) == Revision("pod-template-hash", replica_set="4")
    replica_sets = [
        _rs("web-aaa", "3", "aaa", "u1"),
        _rs("web-bbb", "4", "bbb", "other-uid"),  # another owner's (same selector)
        _rs("web-ccc", "4", "ccc", "u1"),
    ]
    assert replica_set_hash(replica_sets, owner_uid="u1", revision="4") == "ccc"
    assert replica_set_hash(replica_sets, owner_uid="u1", revision="5") is None


def _rs(name: str, revision: str, hash_: str, owner: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "labels": {"app": "web", "pod-template-hash": hash_},
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner}],
        }
    }


def test_a_revision_not_observed_yet_is_not_read() -> None:
    """Before the controller observes the rollout its revision still names the previous one."""
    deployment = _state("Deployment", observed=2, revision="3")
    assert revision_of(deployment) is None
    statefulset = _state("StatefulSet", observed=2, status={"updateRevision": "web-5d"})
    assert revision_of(statefulset) is None
    assert revision_of(_state("Deployment")) is None  # no revision annotation yet


def test_a_statefulset_s_revision_is_its_update_revision() -> None:
    state = _state("StatefulSet", status={"updateRevision": "web-5d", "currentRevision": "web-4c"})
    revision = revision_of(state)
    assert revision == Revision("controller-revision-hash", "web-5d")
    assert revision.selector("app=web") == "app=web,controller-revision-hash=web-5d"


def test_a_daemonset_s_revision_is_its_generation() -> None:
    revision = revision_of(_state("DaemonSet", generation=7, observed=7))
    assert revision == Revision("pod-template-generation", "7")


def test_an_argo_rollout_s_revision_is_its_current_pod_hash() -> None:
    state = _state("Rollout", status={"currentPodHash": "6f7"})
    assert revision_of(state) == Revision("rollouts-pod-template-hash", "6f7")
    restarted = _state("Rollout", spec={"restartAt": SAME_SECOND}, status={"currentPodHash": "6f7"})
    revision = revision_of(restarted)
    assert revision == Revision("rollouts-pod-template-hash", "6f7", by_time=True)
    # restarted in place: same hash, so only the pods created since the write are new
    assert not is_new(_pod(BEFORE, {"rollouts-pod-template-hash": "6f7"}), revision, T0)
    assert is_new(_pod(AFTER, {"rollouts-pod-template-hash": "6f7"}), revision, T0)
    assert revision_of(_state("Rollout")) is None


# ---------------------------------------------------------------------------- new pods
def test_a_pod_of_the_previous_revision_created_in_the_same_second_is_not_new() -> None:
    revision = Revision("pod-template-hash", "new")
    assert not is_new(_pod(SAME_SECOND, {"pod-template-hash": "old"}), revision, T0)
    assert is_new(_pod(SAME_SECOND, {"pod-template-hash": "new"}), revision, T0)
    # by its label, even when clocks disagree about when it was created
    assert is_new(_pod(BEFORE, {"pod-template-hash": "new"}), revision, T0)


def test_without_a_revision_a_pod_is_new_from_the_second_of_the_write() -> None:
    assert is_new(_pod(SAME_SECOND), None, T0)
    assert not is_new(_pod(BEFORE), None, T0)
    assert is_new(_pod(AFTER), Revision("pod-template-hash", replica_set="4"), T0)  # unresolved
    assert not is_new(_pod("not a time"), None, T0)


def test_a_crashing_pod_of_the_rollout_before_does_not_fail_the_next_one() -> None:
    revision = Revision("pod-template-hash", "fix")
    old = _pod(SAME_SECOND, {"pod-template-hash": "bad"}, **CRASH)
    assert new_pod_problem([old], revision, T0) is None
    new = _pod(AFTER, {"pod-template-hash": "fix"}, **CRASH)
    assert "CrashLoopBackOff" in (new_pod_problem([old, new], revision, T0) or "")


def test_a_crash_looping_or_repeatedly_failing_container_is_a_problem() -> None:
    assert "CrashLoopBackOff (3 restarts)" in (pod_problem(_pod(AFTER, **CRASH)) or "")
    failing: dict[str, Any] = {"lastState": {"terminated": {"exitCode": 2}}, "restartCount": 2}
    assert "exit code 2" in (pod_problem(_pod(AFTER, **failing)) or "")
    once: dict[str, Any] = {"lastState": {"terminated": {"exitCode": 2}}, "restartCount": 1}
    assert pod_problem(_pod(AFTER, **once)) is None
    assert pod_problem(_pod(AFTER)) is None


# ---------------------------------------------------------------------------- when to look
@pytest.mark.parametrize(
    ("now", "last_look", "due"),
    [
        (T0 + 1, None, False),  # under way: nothing to see in its pods yet
        (T0 + 5, None, True),
        (T0 + 6, T0 + 5, False),  # that look was made
        (T0 + 15, T0 + 5, True),
        (T0 + 34, T0 + 15, False),
        (T0 + 35, T0 + 15, True),
        (T0 + 64, T0 + 35, False),
        (T0 + 65, T0 + 35, True),
        (T0 + 94, T0 + 65, False),
        (T0 + 95, T0 + 65, True),
        (T0 + 3600, T0 + 3574, True),  # every 30 s: the last one at T0 + 65 + 30 * 117
        (T0 + 3600, T0 + 3575, False),
        (T0 + 40, None, True),  # a restarted controller looks once, at once
    ],
)
def test_a_rollout_under_way_is_looked_at_5_15_35_s_after_its_write_then_every_30_s(
    now: float, last_look: float | None, due: bool
) -> None:
    assert look_due(complete=False, since=T0, now=now, last_look=last_look) is due


def test_a_complete_rollout_is_always_looked_at_and_the_next_look_is_scheduled() -> None:
    assert look_due(complete=True, since=T0, now=T0 + 1, last_look=T0 + 1)
    assert next_look(T0, T0 + 1) == 4
    assert next_look(T0, T0 + 5) == 10
    assert next_look(T0, T0 + 20) == 15
    assert next_look(T0, T0 + 35) == 30
    assert next_look(T0, T0 + 100) == 25  # T0 + 125
