"""kured's node marks: the PreferNoSchedule taint, the reboot annotations, the node labels.

Pure: what a Node should carry at each stage of a check, and the patches that get it there (None
when it already does). The I/O lives in ``reloader.reboot.marks``.

- ``--prefer-no-schedule-taint=NAME``: a ``PreferNoSchedule`` taint NAME while this node needs a
  reboot but cannot take the lock because other nodes hold it, so the scheduler prefers other
  nodes for pods that would soon be evicted again. Removed at startup, outside the window, when
  no reboot is needed, and once the node is back after its reboot.
- ``--annotate-nodes``: ``weave.works/kured-reboot-in-progress`` and
  ``weave.works/kured-most-recent-reboot-needed`` (RFC 3339) are set when a reboot is first seen
  needed in the window; in-progress is removed when the node is back and the sentinel is gone
  (and, unlike kured, when the sentinel disappears without a reboot, so it is never left behind).
- ``--pre-reboot-node-labels`` / ``--post-reboot-node-labels`` (``k=v``): set at drain start and
  with the uncordon after the reboot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reloader.reboot.domain.coordination import rfc3339

ANNOTATION_IN_PROGRESS = "weave.works/kured-reboot-in-progress"
ANNOTATION_MOST_RECENT = "weave.works/kured-most-recent-reboot-needed"
TAINT_EFFECT = "PreferNoSchedule"

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

Labels = tuple[tuple[str, str], ...]


class Stage(StrEnum):
    """Where a check ended, as far as the marks are concerned."""

    #: the agent started (and had no earlier attempt to finish)
    STARTUP = "startup"
    #: the sentinel says no reboot is needed (and this node holds no lock)
    NOT_NEEDED = "not_needed"
    #: a reboot is needed but the loop guard or the window holds it
    HELD_BACK = "held_back"
    #: needed, in the window, but a gate (pods, alerts, rollouts) holds it
    GATED = "gated"
    #: needed, the gates are clear, but other nodes hold every lock slot
    LOCK_BUSY = "lock_busy"
    #: this node took a lock slot: the cycle starts
    LOCKED = "locked"
    #: an earlier attempt was finished (back with the sentinel still there, or not rebooted)
    RECOVERED = "recovered"
    #: back after the reboot and the sentinel is gone
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the node should carry after a stage; None: leave it as it is."""

    taint: bool | None
    #: set in-progress and most-recent (when in-progress is not there yet)
    annotate: bool = False
    #: remove in-progress
    clear: bool = False


_WANTED = {
    Stage.STARTUP: Wanted(taint=False),
    Stage.NOT_NEEDED: Wanted(taint=False, clear=True),
    Stage.HELD_BACK: Wanted(taint=False),
    # kured annotates before the gates: a node that needs a reboot is marked even when held
    Stage.GATED: Wanted(taint=None, annotate=True),
    Stage.LOCK_BUSY: Wanted(taint=True, annotate=True),
    # kept while cordoned (moot then), removed when the node is back
    Stage.LOCKED: Wanted(taint=None, annotate=True),
    Stage.RECOVERED: Wanted(taint=False),
    Stage.DONE: Wanted(taint=False, clear=True),
}


def wanted(stage: Stage) -> Wanted:
    return _WANTED[stage]


# ----------------------------------------------------------------------------- validation


def valid_label_key(key: str) -> bool:
    """A qualified name: ``[prefix/]name``, name up to 63 characters, prefix a DNS subdomain."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return 0 < len(name) <= 63 and _NAME.fullmatch(name) is not None


def valid_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and _NAME.fullmatch(value) is not None)


def parse_node_labels(items: Iterable[str]) -> Labels:
    """kured's ``k=v`` labels, comma-separated and/or repeated; a later key wins.

    :raises ValueError: an item without ``=``, or a key or value Kubernetes would refuse.
    """
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            text = part.strip()
            if not text:
                continue
            key, eq, value = text.partition("=")
            key, value = key.strip(), value.strip()
            if not eq:
                raise ValueError(f"{text!r} is not key=value")
            if not valid_label_key(key):
                raise ValueError(f"{key!r} is not a valid label key")
            if not valid_label_value(value):
                raise ValueError(f"{value!r} (for {key}) is not a valid label value")
            out[key] = value
    return tuple(out.items())


def mismatched_keys(pre: Labels, post: Labels) -> list[str]:
    """Keys set before the reboot and not after, or the other way round (kured warns)."""
    return sorted({k for k, _ in pre} ^ {k for k, _ in post}) if pre and post else []


# ---------------------------------------------------------------------------------- taint


def has_taint(taints: Sequence[Mapping[str, Any]], name: str) -> bool:
    return any(t.get("key") == name and t.get("effect") == TAINT_EFFECT for t in taints)


def taint_patch(
    taints: Sequence[Mapping[str, Any]], *, name: str, present: bool, resource_version: str
) -> dict[str, Any] | None:
    """A merge patch that adds or removes the PreferNoSchedule taint ``name``, keeping every
    other taint; None when nothing changes. It replaces the whole list, so it carries the
    resourceVersion it was computed from: a concurrent writer makes it fail with 409."""
    if has_taint(taints, name) == present:
        return None
    kept = [
        dict(t) for t in taints if not (t.get("key") == name and t.get("effect") == TAINT_EFFECT)
    ]
    if present:
        kept.append({"key": name, "effect": TAINT_EFFECT})
    return {
        "metadata": {"resourceVersion": resource_version},
        "spec": {"taints": kept or None},
    }


# ---------------------------------------------------------------------------- annotations


def annotate_patch(annotations: Mapping[str, str], *, now: float) -> dict[str, Any] | None:
    """Set in-progress and most-recent to ``now``, once per reboot (as kured: only while
    in-progress is not there yet); None when it is."""
    if ANNOTATION_IN_PROGRESS in annotations:
        return None
    stamp = rfc3339(now)
    return {
        "metadata": {"annotations": {ANNOTATION_IN_PROGRESS: stamp, ANNOTATION_MOST_RECENT: stamp}}
    }


def clear_patch(annotations: Mapping[str, str]) -> dict[str, Any] | None:
    """Remove in-progress (most-recent stays, as in kured); None when it is not there."""
    if ANNOTATION_IN_PROGRESS not in annotations:
        return None
    return {"metadata": {"annotations": {ANNOTATION_IN_PROGRESS: None}}}


# --------------------------------------------------------------------------------- labels


def missing_labels(labels: Mapping[str, str], wanted_labels: Labels) -> dict[str, str]:
    """The labels of ``wanted_labels`` the node does not carry with that value yet."""
    return {k: v for k, v in wanted_labels if labels.get(k) != v}


def labels_patch(labels: Mapping[str, str], wanted_labels: Labels) -> dict[str, Any] | None:
    """A merge patch of metadata.labels (other labels untouched); None when all are set."""
    missing = missing_labels(labels, wanted_labels)
    return {"metadata": {"labels": missing}} if missing else None


def format_labels(labels: Mapping[str, str] | Labels) -> str:
    items = labels.items() if isinstance(labels, Mapping) else labels
    return ",".join(f"{k}={v}" for k, v in items)
