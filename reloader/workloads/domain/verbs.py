"""Restarts that no source change caused (a schedule, ``reloader restart``): which verb and what
the pod template gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reloader.core.durations import format_time
from reloader.workloads.domain.patches import template_annotations_patch

if TYPE_CHECKING:
    from datetime import datetime

    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.patches import Patch

#: the pod-template annotation ``kubectl rollout restart`` writes
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restart_template_patch(kind: WorkloadKind, now: datetime) -> Patch:
    """The pod-template change of a rolling restart: ``kubectl rollout restart``'s annotation."""
    return template_annotations_patch(kind, {RESTARTED_AT: format_time(now)})
