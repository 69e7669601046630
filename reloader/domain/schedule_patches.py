"""What a scheduled or immediate restart writes: records, the rolling-restart template change,
and the stop-start scale patches (the rules that decide them are in ``reloader.domain.schedules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reloader.domain.annotations import annotation_warning, quote
from reloader.domain.kinds import ROLLOUT, RestartMethod
from reloader.domain.patches import metadata_annotations_patch, template_annotations_patch
from reloader.domain.schedules import RESTARTED_AT, ScheduleNames, format_time

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from reloader.domain.kinds import WorkloadKind
    from reloader.domain.patches import Patch


def record_patch(
    *,
    names: ScheduleNames,
    restarted: datetime | None = None,
    baseline: datetime | None = None,
) -> Patch:
    """Metadata annotations recording a restarted slot and/or a new baseline."""
    values: dict[str, str | None] = {}
    if restarted is not None:
        values[names.last_restart] = format_time(restarted)
    if baseline is not None:
        values[names.baseline] = format_time(baseline)
    return metadata_annotations_patch(values)


def immediate_restart(kind: WorkloadKind) -> RestartMethod:
    """How a restart that no source change caused is done: the kind's own restart verb, and
    ``restartAt`` for every Rollout (what ``kubectl argo rollouts restart`` does)."""
    return RestartMethod.RESTART_AT if kind.kind == ROLLOUT.kind else kind.restart


def restart_template_patch(kind: WorkloadKind, now: datetime) -> Patch:
    """The pod-template change of a rolling restart: ``kubectl rollout restart``'s annotation."""
    return template_annotations_patch(kind, {RESTARTED_AT: format_time(now)})


def scale_down_patch(
    *, names: ScheduleNames, replicas: int, slot: datetime | None
) -> dict[str, object]:
    """Stop: record the replica count *in the same write* that scales to zero.

    One write means there is no instant at which the workload is at zero without the record, so
    a controller that dies at any point finds what to scale back to.
    """
    annotations: dict[str, str | None] = {names.stop_start_replicas: str(replicas)}
    if slot is not None:
        annotations[names.last_restart] = format_time(slot)
    return {"metadata": {"annotations": annotations}, "spec": {"replicas": 0}}


def scale_up_patch(*, names: ScheduleNames, replicas: int) -> dict[str, object]:
    """Start: scale back to the recorded count and drop the record, in one write."""
    return {
        "metadata": {"annotations": {names.stop_start_replicas: None}},
        "spec": {"replicas": replicas},
    }


def recorded_replicas(
    annotations: Mapping[str, str], *, names: ScheduleNames
) -> tuple[int | None, tuple[str, ...]]:
    """The replica count recorded by an unfinished stop-start (None: none in progress)."""
    raw = annotations.get(names.stop_start_replicas)
    if raw is None:
        return None, ()
    if raw.strip().isdigit():
        return int(raw.strip()), ()
    problem = f"invalid replica count {quote(raw)}: scaling back to 1"
    return 1, (annotation_warning(names.stop_start_replicas, problem),)
