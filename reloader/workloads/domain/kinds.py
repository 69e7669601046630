"""Workload kinds as data: one row per kind, not one copy of the code per kind.

Reloader repeats the same callbacks for every workload kind. Everything that differs
between kinds is in fact a handful of facts: which API resource, where the pod template lives, how
a reload and a restart are performed, how a rollout is known to be done, whether it rolls out and
whether it scales, which patch content type the API server accepts, whether the kind can be
paused, its names on the command line. This module holds those facts (one :class:`WorkloadKind`
row per kind in :data:`KINDS`); the code that reads and writes workloads is written once against
the fields, and never names a kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from reloader.core.objects import (
    CRONJOBS,
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    ROLLOUTS,
    STATEFULSETS,
    ResourceType,
)

if TYPE_CHECKING:
    from reloader.core.annotations import AnnotationNames


class PatchContentType(StrEnum):
    """The patch format the API server accepts for a kind."""

    STRATEGIC_MERGE = "application/strategic-merge-patch+json"
    #: what custom resources accept (they have no strategic merge)
    MERGE_PATCH = "application/merge-patch+json"


class RestartMethod(StrEnum):
    """How a kind is made to restart its pods."""

    TEMPLATE_PATCH = "template-patch"  # change the pod template; the kind's controller rolls
    RESTART_AT = "restart-at"  # Argo Rollout: set spec.restartAt; its controller replaces pods
    JOB_FROM_CRONJOB = "job-from-cronjob"  # create a Job from the CronJob's job template
    RECREATE_JOB = "recreate-job"  # delete the Job and create it again with the new template


class RolloutStatus(StrEnum):
    """Which rule says that a restart of a kind is done (``kubectl rollout status``'s viewer)."""

    DEPLOYMENT = "deployment"
    STATEFULSET = "statefulset"
    DAEMONSET = "daemonset"
    ARGO_ROLLOUT = "argo-rollout"
    #: the Job (recreated, or created from a CronJob) has started a pod
    JOB_STARTED = "job-started"


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    """The facts about one workload kind: code reads these fields, it never names a kind."""

    #: the API kind; also the ``kind`` / ``workload_kind`` label of the metrics
    kind: str
    resource: ResourceType
    #: path from the object root to the pod template (a PodTemplateSpec)
    template_path: tuple[str, ...]
    #: the verb of a reload (a source changed)
    restart: RestartMethod
    #: the verb of a restart no source change caused (a schedule, ``reloader restart``)
    immediate_restart: RestartMethod
    #: what kubectl accepts for it (singular, plural, short names), lower case
    aliases: tuple[str, ...]
    #: how a restart is known to be done
    rollout_status: RolloutStatus
    #: its own controller rolls the pods out after a template change (a rollout can be in
    #: progress, and counts against the rollout limits); else a restart creates a Job
    rolls_out: bool
    #: it has ``spec.replicas``: a stop-start restart scales it to zero and back
    scales: bool
    patch_content_type: PatchContentType = PatchContentType.STRATEGIC_MERGE
    #: ``spec.paused`` holds its rollouts: ``deployment.reloader.stakater.com/pause-period``
    #: applies, and ``reloader restart`` refuses a paused one (as kubectl does)
    supports_pause: bool = False
    #: the value of ``--ignored-workload-types`` that skips this kind
    ignore_name: str | None = None
    #: the verb a reload uses instead when the workload's ``rollout-strategy`` annotation is
    #: exactly ``restart``, as Reloader reads it
    annotated_restart: RestartMethod | None = None
    #: defined by a CustomResourceDefinition a cluster may lack: watched only with
    #: ``--is-Argo-Rollouts``
    crd: bool = False


_POD_TEMPLATE = ("spec", "template")

_TP, _RA = RestartMethod.TEMPLATE_PATCH, RestartMethod.RESTART_AT
_JFC, _RJ = RestartMethod.JOB_FROM_CRONJOB, RestartMethod.RECREATE_JOB

DEPLOYMENT = WorkloadKind(
    "Deployment", DEPLOYMENTS, _POD_TEMPLATE, restart=_TP, immediate_restart=_TP,
    aliases=("deployment", "deployments", "deploy"), rollout_status=RolloutStatus.DEPLOYMENT,
    rolls_out=True, scales=True, supports_pause=True,
)  # fmt: skip
DAEMONSET = WorkloadKind(
    "DaemonSet", DAEMONSETS, _POD_TEMPLATE, restart=_TP, immediate_restart=_TP,
    aliases=("daemonset", "daemonsets", "ds"), rollout_status=RolloutStatus.DAEMONSET,
    rolls_out=True, scales=False,
)  # fmt: skip
STATEFULSET = WorkloadKind(
    "StatefulSet", STATEFULSETS, _POD_TEMPLATE, restart=_TP, immediate_restart=_TP,
    aliases=("statefulset", "statefulsets", "sts"), rollout_status=RolloutStatus.STATEFULSET,
    rolls_out=True, scales=True,
)  # fmt: skip
CRONJOB = WorkloadKind(
    "CronJob", CRONJOBS, ("spec", "jobTemplate", "spec", "template"),
    restart=_JFC, immediate_restart=_JFC, aliases=("cronjob", "cronjobs", "cj"),
    rollout_status=RolloutStatus.JOB_STARTED, rolls_out=False, scales=False,
    ignore_name="cronjobs",
)  # fmt: skip
JOB = WorkloadKind(
    "Job", JOBS, _POD_TEMPLATE, restart=_RJ, immediate_restart=_RJ, aliases=("job", "jobs"),
    rollout_status=RolloutStatus.JOB_STARTED, rolls_out=False, scales=False, ignore_name="jobs",
)  # fmt: skip
#: a custom resource: no strategic merge patch; a restart sets ``spec.restartAt`` (what
#: ``kubectl argo rollouts restart`` does), a reload does when its annotation asks for it
ROLLOUT = WorkloadKind(
    "Rollout", ROLLOUTS, _POD_TEMPLATE, restart=_TP, immediate_restart=_RA,
    aliases=("rollout", "rollouts", "ro"), rollout_status=RolloutStatus.ARGO_ROLLOUT,
    rolls_out=True, scales=True, patch_content_type=PatchContentType.MERGE_PATCH,
    annotated_restart=_RA, crd=True,
)  # fmt: skip

#: every kind by its name, in the order Reloader processes them
KINDS: Mapping[str, WorkloadKind] = MappingProxyType(
    {k.kind: k for k in (DEPLOYMENT, CRONJOB, JOB, DAEMONSET, STATEFULSET, ROLLOUT)}
)

#: every kind by each of its aliases
KINDS_BY_ALIAS: Mapping[str, WorkloadKind] = MappingProxyType(
    {alias: k for k in KINDS.values() for alias in k.aliases}
)

#: the values ``--ignored-workload-types`` accepts
IGNORABLE_WORKLOAD_TYPES = frozenset(k.ignore_name for k in KINDS.values() if k.ignore_name)


def get_path(obj: Any, path: tuple[str, ...]) -> Mapping[str, Any] | None:
    """The mapping at ``path`` inside ``obj``, or None when any step is missing or not a mapping."""
    node = obj
    for step in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(step)
    return node if isinstance(node, Mapping) else None


def pod_template(kind: WorkloadKind, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod template (``metadata`` + ``spec``) of a workload, or None if it has none."""
    return get_path(obj, kind.template_path)


def restart_method(
    kind: WorkloadKind, *, annotations: Mapping[str, str], names: AnnotationNames
) -> RestartMethod:
    """The reload verb for one object: a Rollout asks for ``restartAt`` by annotation.

    Only the exact value ``restart`` on the object's metadata selects it (as in Reloader).
    """
    if kind.annotated_restart is not None and annotations.get(names.rollout_strategy) == "restart":
        return kind.annotated_restart
    return kind.restart


def enabled_kinds(
    *, ignored_workload_types: frozenset[str], argo_rollouts: bool
) -> list[WorkloadKind]:
    """The kinds reloader watches: all but those ``--ignored-workload-types`` names, and
    custom resources (Rollouts) only with ``--is-Argo-Rollouts`` (an ignored kind is not watched
    at all, so it needs no RBAC: neither its reloads nor its scheduled restarts happen)."""
    return [
        k
        for k in KINDS.values()
        if k.ignore_name not in ignored_workload_types and (not k.crd or argo_rollouts)
    ]
