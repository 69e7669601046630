"""Which images of a workload are watched, how often, and what its record says.

A workload opts in with ``reloader.stakater.com/image-watch``: ``"true"`` watches every container,
a comma-separated list of container names only those (init containers included). Only images
without a digest are watched; an image pinned by digest cannot move and is reported as such.
``reloader.stakater.com/image-poll-interval`` (a Go duration) sets how often its tags are checked,
never below the minimum the flags allow. The record ``reloader.stakater.com/image-digests`` on the
workload's metadata is JSON, the digest each watched image was last rolled for (or first seen
at), keyed by the image's canonical reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reloader.core.annotations import annotation_warning, parse_bool, quote, split_list
from reloader.core.durations import parse_duration
from reloader.images.domain.references import ImageRef, parse_image

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@dataclass(frozen=True, slots=True)
class ImageNames:
    """The annotation keys of image watching."""

    watch: str = "reloader.stakater.com/image-watch"
    interval: str = "reloader.stakater.com/image-poll-interval"
    record: str = "reloader.stakater.com/image-digests"
    pin: str = "reloader.stakater.com/image-pin"

    def keys(self) -> frozenset[str]:
        return frozenset({self.watch, self.interval, self.record, self.pin})


@dataclass(frozen=True, slots=True)
class Container:
    name: str
    image: str
    init: bool = False


@dataclass(frozen=True, slots=True)
class WatchedImage:
    """One container's image, as watching sees it."""

    container: str
    image: str
    ref: ImageRef | None
    #: why it is not watched ("" when it is)
    unwatchable: str = ""
    init: bool = False
    #: pinning: the digest the image carries (``name:tag@digest``), which is what runs
    pinned_at: str = ""

    @property
    def unpinned(self) -> str:
        """The image as written, without its digest (what a pin appends one to)."""
        return self.image.partition("@")[0]


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """What a workload's annotations ask for."""

    enabled: bool
    images: tuple[WatchedImage, ...] = ()
    interval: float = 0.0
    warnings: tuple[str, ...] = ()
    #: the record as parsed (canonical reference → digest); when pinning, the digest an image
    #: carries wins, since it is what runs
    recorded: Mapping[str, str] = field(default_factory=dict)
    #: a move writes the new digest into the image (``name:tag@digest``) instead of a restart
    pin: bool = False

    @property
    def watched(self) -> tuple[ImageRef, ...]:
        """The distinct references polled for this workload, in container order."""
        seen: dict[str, ImageRef] = {}
        for image in self.images:
            if image.ref is not None and not image.unwatchable:
                seen.setdefault(str(image.ref), image.ref)
        return tuple(seen.values())


def read_spec(
    annotations: Mapping[str, str],
    containers: Sequence[Container],
    *,
    names: ImageNames,
    default_interval: float,
    min_interval: float,
) -> WatchSpec:
    """Parse the opt-in, the interval and the record; every problem becomes a warning."""
    value = annotations.get(names.watch)
    if value is None or parse_bool(value) is False:
        return WatchSpec(enabled=False)
    warnings: list[str] = []
    wanted = None if parse_bool(value) is True or value.strip() == "*" else split_list(value)
    if wanted is not None:
        missing = [n for n in wanted if n not in {c.name for c in containers}]
        if missing:
            warnings.append(
                annotation_warning(names.watch, f"no container named {', '.join(missing)}")
            )
    pin = _pin(annotations, names, warnings)
    images = tuple(_watched(c, pin) for c in containers if wanted is None or c.name in wanted)
    interval = _interval(annotations, names, default_interval, min_interval, warnings)
    recorded = read_record(annotations, names=names, warnings=warnings)
    for image in images:
        if image.pinned_at and image.ref is not None:
            recorded[str(image.ref)] = image.pinned_at
    return WatchSpec(
        enabled=True,
        images=images,
        interval=interval,
        warnings=tuple(warnings),
        recorded=recorded,
        pin=pin,
    )


def _pin(annotations: Mapping[str, str], names: ImageNames, warnings: list[str]) -> bool:
    raw = annotations.get(names.pin)
    if raw is None:
        return False
    value = parse_bool(raw)
    if value is None:
        warnings.append(
            annotation_warning(names.pin, f"{quote(raw)} is not a boolean; not pinning")
        )
    return value is True


def _watched(container: Container, pin: bool) -> WatchedImage:
    name, image, init = container.name, container.image, container.init
    try:
        ref = parse_image(image)
    except ValueError as exc:
        return WatchedImage(name, image, None, f"not a valid image: {exc}", init=init)
    if ref.pinned and pin and ref.tag:
        # pinned by us (or like us): the tag is watched, the digest is what runs
        tag = ImageRef(host=ref.host, repository=ref.repository, tag=ref.tag)
        return WatchedImage(name, image, tag, init=init, pinned_at=ref.digest)
    if ref.pinned:
        return WatchedImage(name, image, ref, "pinned by digest: the image cannot move", init=init)
    return WatchedImage(name, image, ref, init=init)


def _interval(
    annotations: Mapping[str, str],
    names: ImageNames,
    default: float,
    minimum: float,
    warnings: list[str],
) -> float:
    raw = annotations.get(names.interval)
    if raw is None:
        return max(default, minimum)
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        warnings.append(annotation_warning(names.interval, f"{exc}; using {default:g}s"))
        return max(default, minimum)
    if seconds < minimum:
        warnings.append(
            annotation_warning(
                names.interval,
                f"{quote(raw)} is below the minimum of {minimum:g}s (--image-poll-interval-min); "
                f"using {minimum:g}s",
            )
        )
        return minimum
    return seconds


def read_record(
    annotations: Mapping[str, str], *, names: ImageNames, warnings: list[str] | None = None
) -> dict[str, str]:
    """The record, canonical reference → digest; an unreadable record counts as none."""
    raw = annotations.get(names.record)
    if raw is None:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in doc.items()
    ):
        if warnings is not None:
            warnings.append(
                annotation_warning(names.record, "not a JSON object of digests; recorded anew")
            )
        return {}
    return dict(doc)


def format_record(record: Mapping[str, str]) -> str:
    """The record as written: compact JSON, sorted, so equal records are equal strings."""
    return json.dumps(dict(sorted(record.items())), separators=(",", ":"))
