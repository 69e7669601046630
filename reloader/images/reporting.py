"""What every image-watch outcome leaves behind: one log line, one Event, metrics.

Event reasons: ``ImageDigestRecorded`` (first sight), ``ImageUpdated`` (rolled: names the image,
the old and the new digest), ``ImageUpdateHeld``, ``ImageUpdateFailed``, ``ImageCheckFailed``
(a registry or credential problem, once per distinct problem) and ``InvalidAnnotation``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from reloader.workloads.reporting import NORMAL, WARNING, WorkloadReporter, ident

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reloader.core.objects import ObjectKey
    from reloader.images.domain.plans import Move
    from reloader.images.metrics import ImageMetrics
    from reloader.observability.events import EventRecorder
    from reloader.workloads.admission import HoldReason
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.rollouts import WorkloadState

log = structlog.get_logger(__name__)


def _short(digest: str) -> str:
    algo, _, value = digest.partition(":")
    return f"{algo}:{value[:12]}" if value else digest


class ImageReporter(WorkloadReporter):
    def __init__(
        self, *, metrics: ImageMetrics, recorder: EventRecorder, dry_run: bool = False
    ) -> None:
        super().__init__(recorder=recorder, logger=log, dry_run=dry_run)
        self.metrics = metrics
        self._failing: dict[ObjectKey, tuple[str, ...]] = {}

    def forget(self, key: ObjectKey) -> None:
        super().forget(key)
        self._failing.pop(key, None)

    async def warnings(
        self, key: ObjectKey, state: WorkloadState, kind: WorkloadKind, warnings: tuple[str, ...]
    ) -> None:
        if self.new_warnings(key, warnings):
            await self.invalid(state, kind, warnings, event="image.annotation_invalid")

    async def check_failures(
        self, key: ObjectKey, state: WorkloadState, kind: WorkloadKind, errors: tuple[str, ...]
    ) -> None:
        """One Warning per distinct set of lookup errors; a log line when they clear."""
        if self._failing.get(key, ()) == errors:
            return
        before = self._failing.get(key, ())
        self._failing[key] = errors
        if not errors:
            log.info("image.check_recovered", **ident(state), errors=list(before))
            return
        for error in errors:
            await self.outcome(
                state,
                kind,
                WARNING,
                "ImageCheckFailed",
                f"Cannot check the image: {error}",
                log_event="image.check_failed",
                error=error,
            )

    async def recorded(
        self, state: WorkloadState, kind: WorkloadKind, adopted: Mapping[str, str]
    ) -> None:
        if self.dry_run and not self.first_dry_run(state, ("recorded", tuple(adopted.items()))):
            return  # a dry run records nothing: the same first sight comes back every poll
        listed = ", ".join(f"{image} at {_short(d)}" for image, d in adopted.items())
        await self.outcome(
            state,
            kind,
            NORMAL,
            "ImageDigestRecorded",
            f"Watching {listed}; nothing rolled (first sight)",
            log_event="image.recorded",
            images=dict(adopted),
        )

    async def updated(
        self,
        state: WorkloadState,
        kind: WorkloadKind,
        moves: tuple[Move, ...],
        *,
        hooks: bool = False,
    ) -> None:
        if self.dry_run:  # the would-be restart is logged by the restarter; counted nowhere
            if not self.first_dry_run(state, ("updated", moves)):
                return
        else:
            self.metrics.updates.labels(result="success").inc()
        listed = "; ".join(f"{m.image} moved from {m.old} to {m.new}" for m in moves)
        await self.outcome(
            state,
            kind,
            NORMAL,
            "ImageUpdated",
            f"{'Restart with its hooks handed to the controller' if hooks else 'Restarted'}: "
            f"{listed}",
            log_event="image.updated",
            hooks=hooks,
            images=[{"image": m.image, "old": m.old, "new": m.new} for m in moves],
        )

    async def held(
        self, state: WorkloadState, kind: WorkloadKind, reason: HoldReason, moves: tuple[Move, ...]
    ) -> None:
        self.metrics.updates.labels(result="held").inc()
        listed = ", ".join(m.image for m in moves)
        await self.outcome(
            state,
            kind,
            NORMAL,
            "ImageUpdateHeld",
            f"Restart for {listed} held ({reason}); it happens when the hold ends",
            log_event="image.update_held",
            reason=str(reason),
        )

    async def failed(self, state: WorkloadState, kind: WorkloadKind, exc: Exception) -> None:
        self.metrics.updates.labels(result="error").inc()
        await self.outcome(
            state,
            kind,
            WARNING,
            "ImageUpdateFailed",
            f"Restart for a moved image failed (will retry): {exc}",
            log_event="image.update_failed",
            error=str(exc),
        )
