"""Workload kinds as data: one row per kind, not one copy of the code per kind.

Reloader repeats the same callbacks for every workload kind. Everything that differs
between kinds is in fact a handful of facts: which API resource, where the pod template lives, how
a restart is performed, which patch content type the API server accepts, and whether the kind can
be paused. This module holds those facts; the code that reads and writes workloads is written
once against a :class:`WorkloadKind`.
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

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"


class RestartMethod(StrEnum):
    """How a kind is made to restart its pods."""

    TEMPLATE_PATCH = "template-patch"  # change the pod template; the kind's controller rolls
    RESTART_AT = "restart-at"  # Argo Rollout with rollout-strategy=restart: set spec.restartAt
    JOB_FROM_CRONJOB = "job-from-cronjob"  # create a Job from the CronJob's job template
    RECREATE_JOB = "recreate-job"  # delete the Job and create it again with the new template


@dataclass(frozen=True, slots=True)
class WorkloadKind:
    """The facts about one workload kind that reload code needs."""

    kind: str
    resource: ResourceType
    #: path from the object root to the pod template (a PodTemplateSpec)
    template_path: tuple[str, ...]
    restart: RestartMethod
    patch_content_type: str = STRATEGIC_MERGE
    #: ``deployment.reloader.stakater.com/pause-period`` applies
    supports_pause: bool = False
    #: the value of ``--ignored-workload-types`` that skips this kind
    ignore_name: str | None = None


_POD_TEMPLATE = ("spec", "template")

DEPLOYMENT = WorkloadKind(
    "Deployment", DEPLOYMENTS, _POD_TEMPLATE, RestartMethod.TEMPLATE_PATCH, supports_pause=True
)
DAEMONSET = WorkloadKind("DaemonSet", DAEMONSETS, _POD_TEMPLATE, RestartMethod.TEMPLATE_PATCH)
STATEFULSET = WorkloadKind("StatefulSet", STATEFULSETS, _POD_TEMPLATE, RestartMethod.TEMPLATE_PATCH)
CRONJOB = WorkloadKind(
    "CronJob",
    CRONJOBS,
    ("spec", "jobTemplate", "spec", "template"),
    RestartMethod.JOB_FROM_CRONJOB,
    ignore_name="cronjobs",
)
JOB = WorkloadKind("Job", JOBS, _POD_TEMPLATE, RestartMethod.RECREATE_JOB, ignore_name="jobs")
#: a custom resource: no strategic merge patch; RESTART_AT when its annotation asks for it
ROLLOUT = WorkloadKind(
    "Rollout", ROLLOUTS, _POD_TEMPLATE, RestartMethod.TEMPLATE_PATCH, patch_content_type=MERGE_PATCH
)

#: every kind by its name, in the order Reloader processes them
KINDS: Mapping[str, WorkloadKind] = MappingProxyType(
    {k.kind: k for k in (DEPLOYMENT, CRONJOB, JOB, DAEMONSET, STATEFULSET, ROLLOUT)}
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
    """The restart verb for one object: a Rollout asks for ``restartAt`` by annotation.

    Only the exact value ``restart`` on the Rollout's metadata selects it, as in Reloader.
    """
    if kind.kind == ROLLOUT.kind and annotations.get(names.rollout_strategy) == "restart":
        return RestartMethod.RESTART_AT
    return kind.restart


def enabled_kinds(
    *, ignored_workload_types: frozenset[str], argo_rollouts: bool
) -> list[WorkloadKind]:
    """The kinds reloader watches: all but those ``--ignored-workload-types`` names, and
    Rollouts only with ``--is-Argo-Rollouts`` (an ignored kind is not watched at all, so it needs
    no RBAC: neither its reloads nor its scheduled restarts happen)."""
    return [
        k
        for k in KINDS.values()
        if k.ignore_name not in ignored_workload_types and (k.kind != "Rollout" or argo_rollouts)
    ]
