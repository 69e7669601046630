"""Pause period for Deployments, with its state in the cluster, not in memory.

``deployment.reloader.stakater.com/pause-period`` (a Go duration) on a Deployment's metadata asks
for a pause after a reload: the reload patch also sets ``spec.paused: true`` and the annotation
``deployment.reloader.stakater.com/paused-at`` (RFC 3339), so the template change and any further
ones accumulate without rolling. Every reconcile of a Deployment paused by us computes the
deadline from those two annotations; at the deadline one patch unpauses it, which gives one rollout
carrying all the changes. Because the deadline is read from the object, a controller restart or a
leader change resumes the Deployment on time (Reloader keeps timers in memory and leaves it paused,
issues #1016, #1219). An invalid period is a warning and the reload happens without a pause;
it never blocks reloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reloader.core.annotations import annotation_warning, quote
from reloader.core.durations import parse_duration

if TYPE_CHECKING:
    from reloader.core.annotations import AnnotationNames
    from reloader.reload.domain.views import WorkloadView
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.patches import Patch


@dataclass(frozen=True, slots=True)
class PauseState:
    #: seconds of pause a reload should start (None: reload without pausing)
    period: float | None = None
    #: paused by us and the deadline has passed (or the annotation went away): unpause now
    resume: bool = False
    #: paused by us, still within the period: come back after this many seconds
    wait: float | None = None
    warnings: tuple[str, ...] = ()


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def pause_state(
    *, view: WorkloadView, kind: WorkloadKind, names: AnnotationNames, now: float
) -> PauseState:
    """What the pause annotations of ``view`` ask for at ``now`` (unix seconds)."""
    if not kind.supports_pause:
        if names.pause_period in view.annotations:
            problem = f"applies to Deployments only, not a {kind.kind}: reloading without a pause"
            return PauseState(warnings=(annotation_warning(names.pause_period, problem),))
        return PauseState()
    raw_period = view.annotations.get(names.pause_period)
    paused_at_raw = view.annotations.get(names.paused_at)
    period: float | None = None
    warnings: tuple[str, ...] = ()
    if raw_period is not None:
        try:
            period = parse_duration(raw_period)
        except ValueError:
            warnings = (
                annotation_warning(
                    names.pause_period,
                    f"invalid duration {quote(raw_period)} (use e.g. 30s, 5m, 1h): "
                    "reloading without a pause",
                ),
            )
        else:
            period = max(period, 0.0)
    if not view.paused or paused_at_raw is None:
        return PauseState(period=period, warnings=warnings)
    # paused by us: resume at paused-at + period
    paused_at = _parse_time(paused_at_raw)
    if period is None or paused_at is None:
        return PauseState(period=period, resume=True, warnings=warnings)
    remaining = paused_at + period - now
    if remaining <= 0:
        return PauseState(period=period, resume=True, warnings=warnings)
    return PauseState(period=period, wait=remaining, warnings=warnings)


def pause_patch(*, names: AnnotationNames, now: float) -> Patch:
    """Pause a Deployment and record when (merged into the reload patch)."""
    return {"metadata": {"annotations": {names.paused_at: rfc3339(now)}}, "spec": {"paused": True}}


def resume_patch(*, names: AnnotationNames) -> Patch:
    """Unpause a Deployment we paused: one rollout with every change made during the pause."""
    return {"metadata": {"annotations": {names.paused_at: None}}, "spec": {"paused": False}}


@dataclass(frozen=True, slots=True)
class PauseStep:
    """What one reconcile does about pause-period, besides the reload plan."""

    #: merged into the write (a pause or a resume), or None
    patch: Patch | None = None
    #: look at the workload again after this many seconds (the end of a pause)
    requeue_after: float | None = None
    #: this write pauses the Deployment for that many seconds
    pauses_for: float | None = None
    #: this write resumes a Deployment we paused
    resumes: bool = False


def pause_step(
    state: PauseState,
    *,
    rolls: bool,
    paused: bool,
    webhook: bool,
    names: AnnotationNames,
    now: float,
) -> PauseStep:
    """Resume when the pause is over; pause when a reload rolls a Deployment that asks for it."""
    if state.resume:
        return PauseStep(patch=resume_patch(names=names), resumes=True)
    if rolls and state.period and not paused and not webhook:
        return PauseStep(
            patch=pause_patch(names=names, now=now),
            requeue_after=state.period,
            pauses_for=state.period,
        )
    return PauseStep(requeue_after=state.wait)
