"""The level-triggered plan: the digest recorded on a workload against the registry's.

Per watched reference: no recorded digest yet → record the current one and roll nothing (first
sight); the same digest → in sync; another digest → roll, once, and record the new one. A
reference whose current digest is unknown (the registry failed) keeps its recorded digest and
decides nothing. References no longer watched leave the record. Because the record lives on the
workload, a controller restart rolls nothing, and a tag that moved while the controller was
down is rolled once when it looks again.

With pinning, a move writes ``name:tag@new-digest`` into the containers instead of a plain
restart (:func:`pin_patch`); the digest an image carries then counts as its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reloader.workloads.domain.patches import nest

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from reloader.images.domain.references import ImageRef
    from reloader.images.domain.watch import WatchedImage
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.patches import Patch


@dataclass(frozen=True, slots=True)
class Move:
    """A watched image whose tag now points elsewhere."""

    image: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class ImagePlan:
    #: the record to write (None: it is right as it is)
    record: dict[str, str] | None
    #: the images that moved (roll when not empty)
    moves: tuple[Move, ...] = ()
    #: the images seen for the first time (their digest is recorded)
    adopted: tuple[str, ...] = ()

    @property
    def rolls(self) -> bool:
        return bool(self.moves)


def plan_images(
    watched: Sequence[ImageRef],
    recorded: Mapping[str, str],
    current: Mapping[str, str | None],
) -> ImagePlan:
    """Decide from the watched references, the record and the current digests (None: unknown)."""
    record: dict[str, str] = {}
    moves: list[Move] = []
    adopted: list[str] = []
    for ref in watched:
        name = str(ref)
        old, new = recorded.get(name), current.get(name)
        if new is None:
            if old is not None:
                record[name] = old
        elif old is None:
            record[name] = new
            adopted.append(name)
        else:
            record[name] = new
            if new != old:
                moves.append(Move(name, old, new))
    changed = record != dict(recorded)
    return ImagePlan(record=record if changed else None, moves=tuple(moves), adopted=tuple(adopted))


def pin_patch(kind: WorkloadKind, images: Sequence[WatchedImage], moves: Sequence[Move]) -> Patch:
    """Pinning: the pod-template change that writes each moved image's new digest into the
    containers using it (``name:tag@sha256:…``), by container name; this rolls the pods."""
    moved = {m.image: m.new for m in moves}
    lists: dict[str, list[dict[str, str]]] = {}
    for image in images:
        digest = moved.get(str(image.ref)) if image.ref is not None else None
        if digest is None or image.unwatchable:
            continue
        field = "initContainers" if image.init else "containers"
        lists.setdefault(field, []).append(
            {"name": image.container, "image": f"{image.unpinned}@{digest}"}
        )
    return nest((*kind.template_path, "spec"), lists) if lists else {}
