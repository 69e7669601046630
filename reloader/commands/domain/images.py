"""The image part of ``reloader explain``: which images are watched, what is recorded, what the
registry says now, and what the controller does about it.

Pure: the watch spec (``images/domain/watch.py``) and the registry's answers (looked up by the
command) in, the report out, decided by the controller's own plan (``images/domain/plans.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reloader.images.domain.plans import plan_images

if TYPE_CHECKING:
    from collections.abc import Mapping

    from reloader.images.domain.watch import WatchSpec

# statuses of one image
IMAGE_IN_SYNC = "in-sync"  # the recorded digest is the registry's
IMAGE_MOVED = "moved"  # the tag moved: the workload rolls at its next poll
IMAGE_NOT_RECORDED = "not-recorded"  # first sight: recorded, nothing rolls
IMAGE_UNKNOWN = "unknown"  # the registry did not answer: nothing is decided
IMAGE_NOT_WATCHABLE = "not-watchable"  # pinned by digest (or not a valid reference)


@dataclass(frozen=True, slots=True)
class ImageExplanation:
    container: str
    image: str
    #: the canonical reference (``host/repository:tag``); None when the image does not parse
    reference: str | None
    tag: str | None
    status: str
    detail: str
    recorded_digest: str | None = None
    current_digest: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ImagesExplanation:
    interval_seconds: float
    images: tuple[ImageExplanation, ...]
    #: roll, record, in-sync or unknown: what the next poll does
    verdict: str
    next_poll: str
    warnings: tuple[str, ...] = ()


_DETAIL = {
    IMAGE_IN_SYNC: "the recorded digest is the registry's",
    IMAGE_MOVED: "the tag moved since it was recorded: the workload rolls",
    IMAGE_NOT_RECORDED: "not recorded yet: the current digest is recorded, nothing rolls",
}


def explain_images(
    spec: WatchSpec, answers: Mapping[str, tuple[str | None, str]]
) -> ImagesExplanation:
    """``answers``: per canonical reference, the registry's digest (None when it failed) and
    the error ("" when it answered)."""
    current = {name: digest for name, (digest, _) in answers.items()}
    plan = plan_images(spec.watched, spec.recorded, current)
    moved = {m.image for m in plan.moves}
    images: list[ImageExplanation] = []
    for image in spec.images:
        ref = image.ref
        name = str(ref) if ref is not None else None
        if image.unwatchable or ref is None or name is None:
            images.append(
                ImageExplanation(
                    container=image.container,
                    image=image.image,
                    reference=name,
                    tag=ref.tag if ref is not None else None,
                    status=IMAGE_NOT_WATCHABLE,
                    detail=image.unwatchable,
                )
            )
            continue
        digest, error = answers.get(name, (None, "not looked up"))
        recorded = spec.recorded.get(name)
        if digest is None:
            status = IMAGE_UNKNOWN
        elif recorded is None:
            status = IMAGE_NOT_RECORDED
        else:
            status = IMAGE_MOVED if name in moved else IMAGE_IN_SYNC
        detail = _DETAIL.get(status, f"the registry did not answer: {error}")
        images.append(
            ImageExplanation(
                container=image.container,
                image=image.image,
                reference=name,
                tag=ref.tag,
                status=status,
                detail=detail,
                recorded_digest=recorded,
                current_digest=digest,
                error=error or None,
            )
        )
    if plan.rolls:
        verdict = "roll"
    elif plan.adopted:
        verdict = "record"
    elif any(i.status == IMAGE_UNKNOWN for i in images):
        verdict = "unknown"
    else:
        verdict = "in-sync"
    return ImagesExplanation(
        interval_seconds=spec.interval,
        images=tuple(images),
        verdict=verdict,
        next_poll=(
            f"every {spec.interval:g}s (each reference at a fixed offset of up to a tenth of "
            "that earlier; sooner after a change of the workload)"
        ),
        warnings=spec.warnings,
    )
