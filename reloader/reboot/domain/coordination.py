"""Node-reboot coordination rules: the lock, the cordon record and the loop guard.

Pure: raw objects in, decisions out; the caller passes the time. The I/O lives in
``reloader.reboot.agent*``. The mechanism is described in docs/node-reboots.md; in short:

- **Lock.** One coordination.k8s.io Lease per slot, ``<prefix>-0`` … ``<prefix>-(N-1)``, with
  ``N = --concurrency``. A node holds a slot when it is the Lease's ``holderIdentity``; a write
  with the read resourceVersion (or a create) makes the API server pick one winner per slot. The
  Lease carries the node's boot ID at acquire time, so the holder knows after a restart whether
  its node rebooted. A holder that has not renewed its Lease for ``--lock-ttl`` (judged on the
  reader's own monotonic clock from when it last saw the Lease change, so clock skew does not
  matter) is written off: another node takes the slot and leaves the dead node cordoned.
- **Cordon record.** Before cordoning, the agent writes on the Node whether it was schedulable
  and its boot ID, in the same PATCH as the cordon; only a node recorded as schedulable is
  uncordoned afterwards, so an administrator's cordon survives.
- **Loop guard.** Each reboot after which the sentinel is still present is recorded on the Node;
  ``--reboot-loop-limit`` of them within ``--reboot-loop-window`` stop further reboots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from reloader.core.objects import RawObject

PREFIX = "reloader.stakater.com/"
#: label on every lock Lease, to list them
LOCK_LABEL = PREFIX + "reboot-lock"
#: Lease annotations: the holder's boot ID when it acquired the slot, and how far it got
LEASE_BOOT_ID = PREFIX + "boot-id"
LEASE_PHASE = PREFIX + "reboot-phase"
#: Node annotations: the cordon record ("true"/"false"; the boot ID when we cordoned)
NODE_WAS_SCHEDULABLE = PREFIX + "reboot-was-schedulable"
NODE_CORDON_BOOT_ID = PREFIX + "reboot-boot-id"
#: Node annotation: RFC 3339 times of reboots after which the sentinel was still there
NODE_LOOP_HISTORY = PREFIX + "reboot-loop"


class Phase(StrEnum):
    """How far the holder of a slot got (a Lease annotation, for people and for recovery)."""

    ACQUIRED = "acquired"
    DRAINING = "draining"
    REBOOTING = "rebooting"
    RECOVERING = "recovering"


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        return None


def meta_of(obj: RawObject) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def annotations_of(obj: RawObject) -> Mapping[str, str]:
    annotations = meta_of(obj).get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


# ------------------------------------------------------------------------------------ nodes


@dataclass(frozen=True, slots=True)
class CordonRecord:
    """What the agent wrote on the Node when it cordoned it."""

    was_schedulable: bool
    boot_id: str


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    uid: str
    resource_version: str
    unschedulable: bool
    boot_id: str
    record: CordonRecord | None
    loop_history: tuple[float, ...]
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False)
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    taints: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)


def node_view(node: RawObject) -> NodeView:
    meta = meta_of(node)
    spec = node.get("spec") or {}
    info = (node.get("status") or {}).get("nodeInfo") or {}
    annotations = annotations_of(node)
    record = None
    if NODE_WAS_SCHEDULABLE in annotations:
        record = CordonRecord(
            was_schedulable=annotations[NODE_WAS_SCHEDULABLE] == "true",
            boot_id=str(annotations.get(NODE_CORDON_BOOT_ID, "")),
        )
    return NodeView(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        unschedulable=bool(spec.get("unschedulable")),
        boot_id=str(info.get("bootID") or ""),
        record=record,
        loop_history=parse_history(annotations.get(NODE_LOOP_HISTORY, "")),
        annotations=dict(annotations),
        labels=dict(meta.get("labels") or {}),
        taints=tuple(t for t in spec.get("taints") or [] if isinstance(t, Mapping)),
    )


def cordon_patch(node: NodeView) -> dict[str, Any]:
    """A merge patch that records the node's state and cordons it, in one write.

    An existing record (an earlier attempt of ours) is kept: it holds the state from *before*
    our first cordon. The resourceVersion makes the write fail if the node changed since read.
    """
    record = node.record or CordonRecord(was_schedulable=not node.unschedulable, boot_id="")
    return {
        "metadata": {
            "resourceVersion": node.resource_version,
            "annotations": {
                NODE_WAS_SCHEDULABLE: "true" if record.was_schedulable else "false",
                NODE_CORDON_BOOT_ID: node.boot_id,
            },
        },
        "spec": {"unschedulable": True},
    }


def restore_patch(
    node: NodeView, *, history: Sequence[float] | None = None
) -> dict[str, Any] | None:
    """A merge patch that undoes our cordon: uncordon only a node recorded as schedulable,
    drop the record; optionally replace the loop history. None when there is nothing to write.
    """
    annotations: dict[str, str | None] = {}
    spec: dict[str, Any] = {}
    if node.record is not None:
        annotations[NODE_WAS_SCHEDULABLE] = None
        annotations[NODE_CORDON_BOOT_ID] = None
        if node.record.was_schedulable and node.unschedulable:
            spec["unschedulable"] = None
    if history is not None and tuple(history) != node.loop_history:
        annotations[NODE_LOOP_HISTORY] = format_history(history) if history else None
    if not annotations and not spec:
        return None
    patch: dict[str, Any] = {"metadata": {"annotations": annotations}}
    if spec:
        patch["spec"] = spec
    return patch


def uncordons(node: NodeView) -> bool:
    """Whether :func:`restore_patch` makes the node schedulable again."""
    return node.record is not None and node.record.was_schedulable and node.unschedulable


# ------------------------------------------------------------------------------- loop guard


def parse_history(text: str) -> tuple[float, ...]:
    out = []
    for part in text.split(","):
        value = parse_rfc3339(part) if part.strip() else None
        if value is not None:
            out.append(value)
    return tuple(sorted(out))


def format_history(times: Iterable[float]) -> str:
    return ",".join(rfc3339(t) for t in sorted(times))


def record_reboot(
    history: Sequence[float], *, now: float, sentinel_present: bool, window: float, limit: int
) -> tuple[float, ...]:
    """The loop history after a reboot: cleared when the sentinel is gone, else one more entry
    (entries older than ``window`` dropped, at most ``limit`` kept)."""
    if not sentinel_present:
        return ()
    recent = [t for t in history if now - t < window] + [now]
    return tuple(sorted(recent)[-max(limit, 1) :])


def loop_stopped(history: Sequence[float], *, now: float, window: float, limit: int) -> bool:
    """Whether ``limit`` reboots within ``window`` left the sentinel in place (0: no guard)."""
    if limit <= 0:
        return False
    return sum(1 for t in history if now - t < window) >= limit


# ------------------------------------------------------------------------------------- lock


def slot_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index}"


def slot_index(prefix: str, name: str) -> int | None:
    head, _, tail = name.rpartition("-")
    return int(tail) if head == prefix and tail.isdigit() else None


@dataclass(frozen=True, slots=True)
class SlotView:
    """One lock Lease as read."""

    name: str
    index: int
    holder: str
    resource_version: str
    boot_id: str = ""
    phase: str = ""
    #: the Lease as read, for the next write (its spec is reloader.runtime.lease's business)
    lease: RawObject = field(default_factory=dict, compare=False)


def slot_view(prefix: str, lease: RawObject) -> SlotView | None:
    meta = meta_of(lease)
    name = str(meta.get("name", ""))
    index = slot_index(prefix, name)
    if index is None:
        return None
    spec = lease.get("spec") or {}
    annotations = annotations_of(lease)
    return SlotView(
        name=name,
        index=index,
        holder=str(spec.get("holderIdentity") or ""),
        resource_version=str(meta.get("resourceVersion", "")),
        boot_id=str(annotations.get(LEASE_BOOT_ID, "")),
        phase=str(annotations.get(LEASE_PHASE, "")),
        lease=lease,
    )


@dataclass(frozen=True, slots=True)
class Held:
    """This node already holds ``slot``."""

    slot: SlotView


@dataclass(frozen=True, slots=True)
class Take:
    """Write this node into slot ``name``: create it (``current`` None) or replace ``current``,
    whose holder, if any, was written off (``takeover``)."""

    name: str
    current: SlotView | None

    @property
    def takeover(self) -> str:
        return self.current.holder if self.current is not None else ""


@dataclass(frozen=True, slots=True)
class Busy:
    """Every slot is held by a live node."""

    holders: tuple[str, ...]


LockDecision = Held | Take | Busy


def decide_lock(
    slots: Sequence[SlotView],
    *,
    node: str,
    prefix: str,
    concurrency: int,
    expired: frozenset[str] = frozenset(),
) -> LockDecision:
    """Which slot this node may take.

    Live holders are counted across *all* slots, including slots at or above ``concurrency``
    (left by a larger setting), so lowering ``--concurrency`` never lets more nodes in. A
    holder whose slot is in ``expired`` does not count and its slot may be taken over.
    """
    for slot in slots:
        if slot.holder == node:
            return Held(slot)
    live = tuple(sorted(s.holder for s in slots if s.holder and s.name not in expired))
    if len(live) >= concurrency:
        return Busy(live)
    by_name = {s.name: s for s in slots}
    takeover: Take | None = None
    for index in range(concurrency):
        name = slot_name(prefix, index)
        current = by_name.get(name)
        if current is None:
            return Take(name, None)
        if not current.holder:
            return Take(name, current)
        if current.name in expired and takeover is None:
            takeover = Take(name, current)
    return takeover if takeover is not None else Busy(live)


def lock_metadata(
    name: str,
    namespace: str,
    current: SlotView | None,
    *,
    holder: str = "",
    boot_id: str = "",
    phase: Phase | None = None,
) -> dict[str, Any]:
    """The metadata of a slot's Lease for a new holder (acquire), the same one (renew) or none
    (release): the lock label, the holder's boot ID and phase, other labels and annotations kept.

    The spec, and the resourceVersion that makes a concurrent writer get 409, are added by
    ``reloader.runtime.lease``.
    """
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {LOCK_LABEL: "true"}}
    if current is not None:
        old = meta_of(current.lease)
        meta["labels"] = {**(old.get("labels") or {}), LOCK_LABEL: "true"}
        kept = {k: v for k, v in (old.get("annotations") or {}).items() if not k.startswith(PREFIX)}
        if kept:
            meta["annotations"] = kept
    if holder:
        annotations = {LEASE_BOOT_ID: boot_id}
        if phase is not None:
            annotations[LEASE_PHASE] = phase.value
        meta["annotations"] = {**meta.get("annotations", {}), **annotations}
    return meta


def render_message(template: str, node: str) -> str:
    """kured's message templates: ``%s`` is the node name."""
    return template.replace("%s", node) if "%s" in template else template
