"""A rolled target's pods in a wave's verdict: which are the rollout's own, when to read them,
and what is wrong with one (docs/waves.md, "What is read").

The verdict (``waves.judge``) reads the workload's own status, cached anyway, first. Pods are
cached by no one: they are LISTed only where the status cannot tell, at the moments
:func:`look_due` names (when the status says complete, to confirm no new pod crash loops; while
the rollout is under way, on a bounded schedule, since a crash-looping pod only stalls it).

A pod is the rollout's own (*new*) when it carries the workload's latest revision, the label its
controller stamps on each pod: a Deployment's newest ReplicaSet's ``pod-template-hash`` (that
ReplicaSet carries the Deployment's ``deployment.kubernetes.io/revision``), a StatefulSet's
``status.updateRevision`` as ``controller-revision-hash``, a DaemonSet's ``metadata.generation``
as ``pod-template-generation``, an Argo Rollout's ``status.currentPodHash`` as
``rollouts-pod-template-hash``. Where no revision can be read, a pod is new when it was created
at or after the second the rollout was written.

Pure rules: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reloader.workloads.domain.kinds import KINDS, RolloutStatus
from reloader.workloads.domain.references import as_list, as_mapping, as_str, str_map
from reloader.workloads.domain.rollouts import DEPLOYMENT_REVISION, WorkloadState

#: restarts after which a container that keeps exiting with an error is crash looping
RESTARTS_FAILING = 2
#: a rollout still under way has its pods read this long after it was written…
FIRST_LOOK = 5.0
#: …then after twice as long each time, up to this interval
LOOK_EVERY = 30.0

POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"
POD_TEMPLATE_GENERATION = "pod-template-generation"
ROLLOUTS_POD_TEMPLATE_HASH = "rollouts-pod-template-hash"


@dataclass(frozen=True, slots=True)
class Revision:
    """How the pods of a workload's latest revision are told from older ones: ``label`` is
    ``value`` on them."""

    label: str
    #: "" for a Deployment until its newest ReplicaSet is read (:func:`replica_set_hash`)
    value: str = ""
    #: a Deployment's ``deployment.kubernetes.io/revision``: its newest ReplicaSet carries it too
    replica_set: str = ""
    #: the label alone does not tell: an Argo Rollout restarted in place (``spec.restartAt``)
    #: keeps its pod hash, so its new pods are also the ones created since the write
    by_time: bool = False

    def selector(self, base: str) -> str:
        """``base`` narrowed to the latest revision's pods (fewer bytes to LIST)."""
        return f"{base},{self.label}={self.value}" if self.value else base


def revision_of(state: WorkloadState) -> Revision | None:
    """The latest revision of a workload, or None when it cannot be read: not a kind with
    rollouts, or its controller has not observed the latest spec (the revision is stale)."""
    rule = KINDS[state.kind].rollout_status
    observed = state.status.get("observedGeneration")
    if rule is RolloutStatus.ARGO_ROLLOUT:
        current = str(state.status.get("currentPodHash", ""))
        if not current:
            return None
        return Revision(ROLLOUTS_POD_TEMPLATE_HASH, current, by_time=state.restart_at is not None)
    if not isinstance(observed, int) or observed < state.generation:
        return None
    if rule is RolloutStatus.DEPLOYMENT:
        return Revision(POD_TEMPLATE_HASH, replica_set=state.revision) if state.revision else None
    if rule is RolloutStatus.STATEFULSET:
        update = str(state.status.get("updateRevision", ""))
        return Revision(CONTROLLER_REVISION_HASH, update) if update else None
    if rule is RolloutStatus.DAEMONSET:
        return Revision(POD_TEMPLATE_GENERATION, str(state.generation))
    return None


def replica_set_hash(
    replica_sets: Iterable[Mapping[str, Any]], *, owner_uid: str, revision: str
) -> str | None:
    """The ``pod-template-hash`` of the Deployment's ReplicaSet at ``revision`` (owned by
    ``owner_uid``), or None when there is none yet."""
    for rs in map(as_mapping, replica_sets):
        meta = as_mapping(rs.get("metadata"))
        if str_map(meta.get("annotations")).get(DEPLOYMENT_REVISION) != revision:
            continue
        owners = (as_mapping(o) for o in as_list(meta.get("ownerReferences")))
        if owner_uid and not any(o.get("uid") == owner_uid for o in owners):
            continue
        if value := str_map(meta.get("labels")).get(POD_TEMPLATE_HASH):
            return value
    return None


def _created(pod: Mapping[str, Any]) -> int | None:
    text = as_str(as_mapping(pod.get("metadata")).get("creationTimestamp"))
    if not text:
        return None
    try:
        return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


def is_new(pod: Mapping[str, Any], revision: Revision | None, since: int) -> bool:
    """Whether ``pod`` is the rollout's own: it carries the latest revision; with no revision
    known, it was created at or after ``since`` (the second the rollout was written: a pod of
    the previous rollout created in that same second counts as new then)."""
    if revision is not None and revision.value:
        labels = str_map(as_mapping(pod.get("metadata")).get("labels"))
        if labels.get(revision.label) != revision.value:
            return False
        if not revision.by_time:
            return True
    created = _created(pod)
    return created is not None and created >= since


def pod_problem(pod: Mapping[str, Any]) -> str | None:
    """Why ``pod`` shows its rollout is unhealthy, or None: a container waiting in
    ``CrashLoopBackOff``, or one that keeps exiting with an error (restarted at least twice,
    last exit non-zero)."""
    name = as_str(as_mapping(pod.get("metadata")).get("name")) or "?"
    status = as_mapping(pod.get("status"))
    for kind in ("initContainerStatuses", "containerStatuses"):
        for c in map(as_mapping, as_list(status.get(kind))):
            container = as_str(c.get("name")) or "?"
            count = c.get("restartCount")
            restarts = count if isinstance(count, int) else 0
            waiting = as_mapping(as_mapping(c.get("state")).get("waiting"))
            if waiting.get("reason") == "CrashLoopBackOff":
                return (
                    f"pod {name} container {container} is in CrashLoopBackOff ({restarts} restarts)"
                )
            last = as_mapping(as_mapping(c.get("lastState")).get("terminated"))
            code = last.get("exitCode")
            if isinstance(code, int) and code != 0 and restarts >= RESTARTS_FAILING:
                return (
                    f"pod {name} container {container} keeps failing "
                    f"(exit code {code}, {restarts} restarts)"
                )
    return None


def new_pod_problem(
    pods: Iterable[Mapping[str, Any]], revision: Revision | None, since: int
) -> str | None:
    """The first problem of a new pod among ``pods`` (see :func:`pod_problem`), or None."""
    for pod in pods:
        if is_new(pod, revision, since) and (problem := pod_problem(pod)) is not None:
            return problem
    return None


# ---------------------------------------------------------------------------- when to look
def _scheduled(since: int, now: float) -> tuple[float | None, float]:
    """The last scheduled look at or before ``now`` (None: none yet), and the next one after."""
    last: float | None = None
    at, step = since + FIRST_LOOK, FIRST_LOOK
    while at <= now:
        if step >= LOOK_EVERY:  # the steady interval: straight to the right one
            at += (now - at) // LOOK_EVERY * LOOK_EVERY
            return at, at + LOOK_EVERY
        last, step = at, min(2 * step, LOOK_EVERY)
        at += step
    return last, at


def look_due(*, complete: bool, since: int, now: float, last_look: float | None) -> bool:
    """Whether the pods of a rollout waiting for its verdict are read now.

    Complete (per its status): yes, to confirm that no new pod crash loops before it is judged
    healthy. Under way: the status cannot show a crash loop (it only stalls), so at
    ``since`` + 5, 15, 35 s, then every 30 s, each scheduled look once (``last_look``: the last
    one made for this rollout, None: none yet).
    """
    if complete:
        return True
    scheduled, _ = _scheduled(since, now)
    return scheduled is not None and (last_look is None or last_look < scheduled)


def next_look(since: int, now: float) -> float:
    """Seconds from ``now`` until the next scheduled look at a rollout under way."""
    return _scheduled(since, now)[1] - now
