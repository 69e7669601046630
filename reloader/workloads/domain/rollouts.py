"""A workload's replicas and rollout status, and whether a restart has finished rolling out.

Scheduled restarts and ``reloader restart`` need what reload decisions never read: the replica
count (stop-start scales it), the pod selector (to see that the pods are gone) and the status
fields that tell whether a rollout is complete. :class:`WorkloadState` keeps exactly those, plus
the few annotations the caller asks for. :func:`rollout_progress` follows ``kubectl rollout
status``: a Deployment is done when the controller has observed the latest generation and every
replica is updated and available, with no old replica left; a StatefulSet or DaemonSet when its
update status says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reloader.workloads.domain.kinds import KINDS, RolloutStatus, get_path
from reloader.workloads.domain.references import as_list, as_mapping, as_str, str_map

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

    from reloader.workloads.domain.kinds import WorkloadKind

#: a Deployment's revision annotation (also on its ReplicaSet of that revision)
DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"

#: status fields kept (all integers or strings)
_STATUS_FIELDS = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "currentRevision",
    "updateRevision",
    "desiredNumberScheduled",
    "updatedNumberScheduled",
    "numberAvailable",
    "active",
    "ready",
    "succeeded",
    "failed",
    "phase",
    "restartedAt",
    "currentPodHash",
)


@dataclass(frozen=True, slots=True)
class WorkloadIdentity:
    """Which object a cached workload is, and the version cached: what a write and an Event
    need (the base of every cached form of a workload)."""

    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""


@dataclass(frozen=True, slots=True)
class WorkloadState(WorkloadIdentity):
    """Identity, replicas, selector and rollout status of one workload object."""

    #: only the annotations the caller asked to keep
    annotations: Mapping[str, str] = field(default_factory=dict)
    generation: int = 0
    #: ``spec.replicas`` (None for kinds without it; 1 when a Deployment omits it)
    replicas: int | None = None
    paused: bool = False
    suspended: bool = False
    #: the pod label selector as a query string (None when it cannot be expressed)
    selector: str | None = None
    #: ``spec.updateStrategy.type`` (StatefulSet, DaemonSet)
    update_strategy: str | None = None
    partition: int = 0
    #: ``spec.restartAt`` of a Rollout
    restart_at: str | None = None
    status: Mapping[str, int | str] = field(default_factory=dict)
    #: types of the status conditions that are "True", and the Progressing reason
    conditions: frozenset[str] = frozenset()
    progressing_reason: str = ""
    #: ``spec.progressDeadlineSeconds`` (Deployments, Rollouts), None when absent
    progress_deadline: int | None = None
    #: a Deployment's ``deployment.kubernetes.io/revision`` (its newest ReplicaSet's), or ""
    revision: str = ""


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def label_selector(selector: Any) -> str | None:
    """A LabelSelector object as a query string (``a=b,c in (d,e),!f``); None if empty/bad."""
    sel = as_mapping(selector)
    parts = [f"{k}={v}" for k, v in sorted(str_map(sel.get("matchLabels")).items())]
    for expr in as_list(sel.get("matchExpressions")):
        expr = as_mapping(expr)
        key, op = as_str(expr.get("key")), expr.get("operator")
        values = ",".join(v for v in as_list(expr.get("values")) if isinstance(v, str))
        if key is None:
            return None
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            return None
    return ",".join(parts) or None


def summarize_state(
    kind: WorkloadKind, obj: Mapping[str, Any], *, keep: AbstractSet[str] = frozenset()
) -> WorkloadState:
    """Reduce a workload object to its state; never raises on a malformed object."""
    obj = as_mapping(obj)
    meta = as_mapping(obj.get("metadata"))
    spec = as_mapping(obj.get("spec"))
    status = as_mapping(obj.get("status"))
    annotations = (
        {k: v for k, v in str_map(meta.get("annotations")).items() if k in keep} if keep else {}
    )
    replicas = _int(spec.get("replicas"), 1) if kind.scales else None
    strategy = as_mapping(spec.get("updateStrategy"))
    rolling = as_mapping(strategy.get("rollingUpdate"))
    conditions = frozenset(
        str(c.get("type"))
        for c in map(as_mapping, as_list(status.get("conditions")))
        if c.get("status") == "True"
    )
    progressing = next(
        (
            str(c.get("reason") or "")
            for c in map(as_mapping, as_list(status.get("conditions")))
            if c.get("type") == "Progressing"
        ),
        "",
    )
    selector = get_path(obj, ("spec", "selector"))
    deadline = _int(spec.get("progressDeadlineSeconds"))
    return WorkloadState(
        kind=kind.kind,
        namespace=as_str(meta.get("namespace")) or "",
        name=as_str(meta.get("name")) or "",
        uid=as_str(meta.get("uid")) or "",
        resource_version=as_str(meta.get("resourceVersion")) or "",
        annotations=annotations,
        generation=_int(meta.get("generation")),
        replicas=replicas,
        paused=spec.get("paused") is True,
        suspended=spec.get("suspend") is True,
        selector=label_selector(selector) if selector is not None else None,
        update_strategy=as_str(strategy.get("type")),
        partition=_int(rolling.get("partition")),
        restart_at=as_str(spec.get("restartAt")),
        status={
            k: v
            for k in _STATUS_FIELDS
            if isinstance(v := status.get(k), int | str) and not isinstance(v, bool)
        },
        conditions=conditions,
        progressing_reason=progressing,
        progress_deadline=deadline if deadline > 0 else None,
        revision=str_map(meta.get("annotations")).get(DEPLOYMENT_REVISION, ""),
    )


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a rollout stands: done, failed (it will not finish by itself), or a message."""

    done: bool
    message: str
    failed: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the rollout gate and a wave's verdict read of a rollout."""

    #: no rollout under way: done, or one that will not finish by itself (past its progress
    #: deadline, paused, a degraded Argo Rollout)
    settled: bool
    #: why it will not finish, or "" (a paused Deployment waits for its resume: not a failure)
    failure: str


def rollout_outcome(state: WorkloadState, *, metadata_written: bool = False) -> Outcome:
    """:func:`rollout_progress` reduced to what the gate and the waves read."""
    progress = rollout_progress(state, metadata_written=metadata_written)
    failure = progress.message if progress.failed and not state.paused else ""
    return Outcome(progress.done or progress.failed, failure)


def _num(state: WorkloadState, key: str) -> int:
    return _int(state.status.get(key))


def rollout_progress(state: WorkloadState, *, metadata_written: bool = False) -> Progress:
    """Whether the workload's latest restart has rolled out (``kubectl rollout status``).

    ``metadata_written``: ``state`` is what our own write of metadata only (a record annotation,
    no pod-template change) returned. On a Deployment that write bumped the generation (its
    annotations are copied to its ReplicaSets, so changing them bumps it), and the Deployment
    controller has not observed the new one yet. A generation without a new pod template starts
    no rollout, so that one generation is not waited for; any earlier one still is.
    """
    rule = KINDS[state.kind].rollout_status
    observed = _num(state, "observedGeneration")
    ours = 1 if metadata_written and rule is RolloutStatus.DEPLOYMENT else 0
    if rule in _OBSERVES_GENERATION and observed < state.generation - ours:
        return Progress(False, f"waiting for the {state.kind} spec update to be observed")
    return _RULES[rule](state)


def _rollout(state: WorkloadState) -> Progress:
    restarted = str(state.status.get("restartedAt", ""))
    if state.restart_at and restarted < state.restart_at:
        return Progress(False, "waiting for the Rollout controller to restart the pods")
    phase = state.status.get("phase")
    if phase == "Degraded":
        return Progress(False, "Rollout degraded", failed=True)
    if phase not in (None, "Healthy"):
        return Progress(False, f"Rollout phase {phase}")
    return Progress(True, "Rollout restarted")


def _deployment(state: WorkloadState) -> Progress:
    name = state.name
    if state.progressing_reason == "ProgressDeadlineExceeded":
        return Progress(False, f"deployment {name!r} exceeded its progress deadline", failed=True)
    if state.paused:
        return Progress(False, f"deployment {name!r} is paused", failed=True)
    want = state.replicas if state.replicas is not None else 1
    updated = _num(state, "updatedReplicas")
    if updated < want:
        return Progress(False, f"{updated} of {want} new replicas have been updated")
    if (total := _num(state, "replicas")) > updated:
        return Progress(False, f"{total - updated} old replicas are pending termination")
    if (available := _num(state, "availableReplicas")) < updated:
        return Progress(False, f"{available} of {updated} updated replicas are available")
    return Progress(True, f"deployment {name!r} successfully rolled out")


def _statefulset(state: WorkloadState) -> Progress:
    if state.update_strategy not in (None, "RollingUpdate"):
        return Progress(True, "OnDelete update strategy: pods are replaced when deleted")
    want = state.replicas if state.replicas is not None else 1
    if (ready := _num(state, "readyReplicas")) < want:
        return Progress(False, f"{ready} of {want} pods are ready")
    if state.partition > 0:
        updated = _num(state, "updatedReplicas")
        if updated < want - state.partition:
            return Progress(False, f"{updated} of {want - state.partition} partitioned pods")
        return Progress(True, "partitioned roll out complete")
    current, update = state.status.get("currentRevision"), state.status.get("updateRevision")
    if current != update:
        updated = _num(state, "updatedReplicas")
        return Progress(False, f"{updated} of {want} pods at revision {update}")
    return Progress(True, f"statefulset rolling update complete ({want} pods)")


def _daemonset(state: WorkloadState) -> Progress:
    if state.update_strategy not in (None, "RollingUpdate"):
        return Progress(True, "OnDelete update strategy: pods are replaced when deleted")
    desired = _num(state, "desiredNumberScheduled")
    if (updated := _num(state, "updatedNumberScheduled")) < desired:
        return Progress(False, f"{updated} of {desired} updated pods are scheduled")
    if (available := _num(state, "numberAvailable")) < desired:
        return Progress(False, f"{available} of {desired} updated pods are available")
    return Progress(True, f"daemon set rolled out ({desired} pods)")


def _job(state: WorkloadState) -> Progress:
    """A Job (new, or created from a CronJob) has started: a pod is active or has finished."""
    if "Failed" in state.conditions:
        return Progress(False, f"job {state.name!r} failed", failed=True)
    if "Complete" in state.conditions or _num(state, "succeeded") > 0:
        return Progress(True, f"job {state.name!r} completed")
    if state.suspended:
        return Progress(True, f"job {state.name!r} created (suspended)")
    if _num(state, "active") > 0 or _num(state, "ready") > 0:
        return Progress(True, f"job {state.name!r} running")
    return Progress(False, f"waiting for job {state.name!r} to start a pod")


#: the rules whose controllers report the generation they have acted on
_OBSERVES_GENERATION = frozenset(
    {RolloutStatus.DEPLOYMENT, RolloutStatus.STATEFULSET, RolloutStatus.DAEMONSET}
)
_RULES: Mapping[RolloutStatus, Callable[[WorkloadState], Progress]] = {
    RolloutStatus.DEPLOYMENT: _deployment,
    RolloutStatus.STATEFULSET: _statefulset,
    RolloutStatus.DAEMONSET: _daemonset,
    RolloutStatus.ARGO_ROLLOUT: _rollout,
    RolloutStatus.JOB_STARTED: _job,
}
