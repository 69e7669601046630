"""What the pods, workloads and alerts around a node say: drain and gate decisions.

Pure: raw objects in, decisions out; the caller passes the time. Used by
``reloader.reboot.node`` (the drain) and ``reloader.reboot.gates``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reloader.core.objects import RawObject
from reloader.reboot.domain.coordination import annotations_of, meta_of, parse_rfc3339

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


@dataclass(frozen=True, slots=True)
class PodView:
    namespace: str
    name: str
    uid: str
    phase: str
    owner_kinds: tuple[str, ...]
    owners: tuple[tuple[str, str], ...]  # (kind, name) of controller owners
    mirror: bool
    deleted_at: float | None


def pod_view(pod: RawObject) -> PodView:
    meta = meta_of(pod)
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, Mapping)]
    controllers = [o for o in owners if o.get("controller")] or owners
    deleted = meta.get("deletionTimestamp")
    return PodView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        phase=str((pod.get("status") or {}).get("phase") or ""),
        owner_kinds=tuple(str(o.get("kind", "")) for o in owners),
        owners=tuple((str(o.get("kind", "")), str(o.get("name", ""))) for o in controllers),
        mirror=MIRROR_ANNOTATION in annotations_of(pod),
        deleted_at=parse_rfc3339(deleted) if isinstance(deleted, str) else None,
    )


class DrainAction(StrEnum):
    EVICT = "evict"  # ask the Eviction API
    WAIT = "wait"  # already being deleted: wait until it is gone
    SKIP = "skip"  # never drained (DaemonSet, mirror pod) or no longer waited for


def drain_action(pod: PodView, *, now: float, skip_wait_after: float) -> DrainAction:
    """What the drain does with one pod on the node (kubectl drain's filters).

    DaemonSet pods come back at once and mirror pods are the kubelet's: both are skipped.
    A pod being deleted is waited for, unless ``skip_wait_after`` > 0 seconds have passed since
    its deletion timestamp (kured's ``--skip-wait-for-delete-timeout``).
    """
    if pod.mirror or "DaemonSet" in pod.owner_kinds:
        return DrainAction.SKIP
    if pod.deleted_at is not None:
        if skip_wait_after > 0 and now - pod.deleted_at > skip_wait_after:
            return DrainAction.SKIP
        return DrainAction.WAIT
    return DrainAction.EVICT


def eviction_body(pod: PodView, *, grace_period: int) -> dict[str, Any]:
    """A policy/v1 Eviction; a negative grace period leaves each pod's own."""
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod.name, "namespace": pod.namespace},
    }
    if grace_period >= 0:
        body["deleteOptions"] = {"gracePeriodSeconds": grace_period}
    return body


def blocking_pods(pods: Iterable[RawObject]) -> list[str]:
    """``namespace/name`` of pods that block a reboot: any not Succeeded, Failed or Unknown."""
    views = map(pod_view, pods)
    return [
        f"{p.namespace}/{p.name}"
        for p in views
        if p.phase not in ("Succeeded", "Failed", "Unknown")
    ]


def blocking_alerts(
    alerts: Iterable[Mapping[str, Any]],
    *,
    filter_regexp: re.Pattern[str] | None,
    match_only: bool,
    firing_only: bool,
) -> list[str]:
    """Names of the alerts (Prometheus /api/v1/alerts entries) that block a reboot.

    ``filter_regexp`` ignores the alerts whose name it matches, or, with ``match_only``, counts
    only them; ``firing_only`` drops pending alerts.
    """
    names = set()
    for alert in alerts:
        state = str(alert.get("state", ""))
        if state == "inactive" or (firing_only and state != "firing"):
            continue
        name = str((alert.get("labels") or {}).get("alertname", ""))
        if filter_regexp is not None:
            matched = filter_regexp.search(name) is not None
            if matched != match_only:
                continue
        names.add(name)
    return sorted(names)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def rollout_in_progress(kind: str, obj: RawObject) -> str | None:
    """Why a Deployment's or StatefulSet's rollout is still in progress, or None.

    A rollout that stalled (ProgressDeadlineExceeded) or is paused does not hold reboots
    forever. StatefulSets are judged by revision only: a pod on a dead node never becomes
    ready again, and that must not stop every other node from rebooting.
    """
    meta, spec, status = meta_of(obj), obj.get("spec") or {}, obj.get("status") or {}
    if _int(status.get("observedGeneration")) < _int(meta.get("generation")):
        return "spec change not observed yet"
    if kind == "Deployment":
        if spec.get("paused"):
            return None
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Progressing" and (
                condition.get("reason") == "ProgressDeadlineExceeded"
            ):
                return None
        wanted = _int(spec.get("replicas", 1))
        updated = _int(status.get("updatedReplicas"))
        if updated < wanted:
            return f"{updated} of {wanted} replicas updated"
        if _int(status.get("replicas")) > updated:
            return "old replicas are being removed"
        if _int(status.get("availableReplicas")) < updated:
            return (
                f"{_int(status.get('availableReplicas'))} of {updated} updated replicas available"
            )
        return None
    if kind == "StatefulSet":
        update = status.get("updateRevision")
        if update and status.get("currentRevision") != update:
            strategy = spec.get("updateStrategy") or {}
            partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
            if strategy.get("type", "RollingUpdate") == "RollingUpdate" and partition == 0:
                return "pods are being updated to a new revision"
        return None
    return None
