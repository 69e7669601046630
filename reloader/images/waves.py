"""A new digest of an image watched by several workloads rolls in health-gated waves.

The image side of ``workloads/waves.py`` (docs/waves.md): one change is an image reference's new
digest (``image/registry.example/app:1`` → ``sha256:…``), cluster-wide, since workloads of every
namespace may watch the same tag. Its targets are the opted-in workloads, of kinds with rollouts,
that watch the reference: pending while their record holds another digest, rolled once it holds
the new one (a workload that has no record yet adopts the digest: not a target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reloader.core.annotations import parse_bool
from reloader.core.objects import ObjectKey
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.rollouts import rollout_outcome
from reloader.workloads.domain.wave_pods import Revision, revision_of
from reloader.workloads.domain.waves import (
    Go,
    Peer,
    PeerStatus,
    WaveDecision,
    decide,
    governing,
    parse_canary_size,
    read_record,
    status_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from reloader.core.annotations import AnnotationNames
    from reloader.images.domain.plans import ImagePlan, Move
    from reloader.images.domain.views import ImageWorkload
    from reloader.images.domain.watch import WatchSpec


@dataclass(frozen=True, slots=True)
class ImageSubject:
    """An image workload as ``workloads/waves.Waves.follow`` reads it."""

    kind: str
    namespace: str
    name: str
    resource_version: str
    annotations: Mapping[str, str]
    rollout_complete: bool
    rollout_failure: str
    selector: str | None
    uid: str = ""
    progress_deadline: int | None = None
    revision: Revision | None = None


def subject_of(view: ImageWorkload) -> ImageSubject:
    state = view.state
    outcome = rollout_outcome(state)
    return ImageSubject(
        kind=state.kind,
        namespace=state.namespace,
        name=state.name,
        resource_version=state.resource_version,
        annotations=state.annotations,
        rollout_complete=outcome.settled,
        rollout_failure=outcome.failure,
        selector=state.selector,
        uid=state.uid,
        progress_deadline=state.progress_deadline,
        revision=revision_of(state),
    )


def change_key(image: str) -> str:
    """The change key of an image reference, as wave records hold it."""
    return f"image/{image}"


@dataclass(frozen=True, slots=True)
class ImageWave:
    decision: WaveDecision
    #: the move the decision is about (halted or waiting; for ROLL, the first waved)
    move: Move | None = None
    #: the moves that roll in waves: recorded on the workload with the restart
    waved: tuple[Move, ...] = ()

    def describe(self) -> str:
        m = self.move
        return "" if m is None else f"image {m.image} digest {m.new}"

    def record_changes(self) -> dict[str, str]:
        return {change_key(m.image): m.new for m in self.waved}


class ImageWaves:
    def __init__(
        self,
        *,
        names: AnnotationNames,
        canary_size: str,
        workloads: Callable[[], Iterable[ImageWorkload]],
        spec: Callable[[ImageWorkload], WatchSpec],
        noted: Callable[[str, str, str, WaveDecision], None] | None = None,
    ) -> None:
        self.names = names
        self.size = parse_canary_size(canary_size)
        self.workloads = workloads
        self.spec = spec
        self.noted = noted

    def decide(self, key: ObjectKey, view: ImageWorkload, plan: ImagePlan) -> ImageWave:
        """Whether ``key`` restarts for its moves now; Jobs and CronJobs always do."""
        if not KINDS[key.kind].rolls_out:
            return ImageWave(WaveDecision(Go.ROLL))
        decisions: list[WaveDecision] = []
        for move in plan.moves:
            decisions.append(decide(_name(key), self._peers(key, view, move), self.size))
            if self.noted is not None:
                self.noted("", change_key(move.image), move.new, decisions[-1])
        waved = tuple(m for m, d in zip(plan.moves, decisions, strict=True) if d.waved)
        if (i := governing(decisions)) is None:
            return ImageWave(WaveDecision(Go.ROLL))
        return ImageWave(decisions[i], plan.moves[i], waved)

    def _peers(self, key: ObjectKey, me: ImageWorkload, move: Move) -> list[Peer]:
        change = change_key(move.image)
        peers = [Peer(_name(key), PeerStatus.PENDING, preferred=self._preferred(me))]
        for view in self.workloads():
            other = ObjectKey(view.kind, view.namespace, view.name)
            if other == key or not KINDS[other.kind].rolls_out:
                continue
            spec = self.spec(view)
            if move.image not in {str(ref) for ref in spec.watched}:
                continue
            recorded = spec.recorded.get(move.image)
            if recorded is None:
                continue  # first sight adopts: not a target
            record = read_record(view.state.annotations, self.names)
            status = status_of(record, change, move.new, rolled=recorded == move.new)
            reason = record.reason if record is not None else ""
            peers.append(Peer(_name(other), status, self._preferred(view), reason))
        return peers

    def _preferred(self, view: ImageWorkload) -> bool:
        return parse_bool(view.state.annotations.get(self.names.canary, "")) is True

    def watchers(self, changes: Iterable[str]) -> list[ObjectKey]:
        """The workloads watching the images of these change keys (to wake after a verdict)."""
        images = {c.removeprefix("image/") for c in changes if c.startswith("image/")}
        return [
            ObjectKey(v.kind, v.namespace, v.name)
            for v in self.workloads()
            if images & {str(ref) for ref in self.spec(v).watched}
        ]


def _name(key: ObjectKey) -> str:
    return f"{key.kind.lower()}/{key.name} in {key.namespace}"
