"""What a scheduled restart writes: the slot records and the stop-start scale patches (the rules
that decide them are in ``schedules.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reloader.core.annotations import annotation_warning, quote
from reloader.core.durations import format_time
from reloader.schedule.domain.schedules import ScheduleNames
from reloader.workloads.domain.patches import metadata_annotations_patch

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from reloader.workloads.domain.patches import Patch


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
