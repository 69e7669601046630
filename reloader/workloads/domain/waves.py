"""Health-gated waves: one change shared by several workloads rolls a canary first.

A *change* is a new version of something several workloads use: a source's new content hash
(``configmap/app`` → its SHA-1), or a shared image's new digest. Its *targets* are the workloads
that roll for it, of the kinds with rollouts (Deployment, StatefulSet, DaemonSet, Argo Rollout;
Jobs and CronJobs roll at once, ungated). With two targets or more the change rolls in waves:

1. the canary wave (``--canary-size``, or the source's ``canary-size`` annotation: a count or a
   share), preferred canaries (``reloader.stakater.com/canary: "true"``) first, then by name;
2. once every rolled target is complete and healthy, the next wave doubles the number rolled
   (1 → 2 → 4 → 8 …), until every target has rolled;
3. a rolled target that is not healthy within its health timeout, or whose new pods crash,
   *fails*: the change halts for every target not rolled yet, until a newer change of the source
   (a fix) or an operator's release (``reloader.stakater.com/release-halted: "true"`` on the failed
   workload).

Everything a decision needs is on the workloads themselves, so a restarted controller (or a new
leader) continues where the last one stopped: which targets rolled (they carry the change), and
each rolled target's *wave record* (annotation ``reloader.stakater.com/wave``): the changes it
rolled, when, and its verdict (rolling, healthy, failed, released). The record is written in the
same patch as the rollout; a verdict, by an annotation patch; a release consumes the release
annotation in the same patch that marks the record released.

Pure rules: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from reloader.core.annotations import AnnotationNames, annotation_warning, parse_bool, quote
from reloader.core.durations import parse_duration
from reloader.workloads.domain.references import as_mapping, as_str

#: the health timeout when neither the flag nor the workload sets one
DEFAULT_HEALTH_TIMEOUT = 300.0
#: …but never more than this share of a Deployment's (or Rollout's) progress deadline
DEADLINE_SHARE = 0.8


class WaveState(StrEnum):
    """A rolled target's verdict, as its wave record holds it."""

    ROLLING = "rolling"
    HEALTHY = "healthy"
    FAILED = "failed"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class WaveRecord:
    """The ``wave`` annotation of a workload that rolled a change in waves."""

    #: change key (``configmap/app``, ``image/docker.io/library/nginx:1.27``) → version
    changes: Mapping[str, str]
    #: when the rollout was written (unix seconds)
    at: int
    state: WaveState = WaveState.ROLLING
    #: why it failed (a failed or released record)
    reason: str = ""

    def carries(self, change: str, version: str) -> bool:
        return self.changes.get(change) == version


def read_record(annotations: Mapping[str, str], names: AnnotationNames) -> WaveRecord | None:
    """The workload's wave record; None when absent or not one of ours (malformed)."""
    text = annotations.get(names.wave)
    if not text:
        return None
    try:
        raw = as_mapping(json.loads(text))
        changes = {
            str(k): v for k, v in as_mapping(raw.get("changes")).items() if isinstance(v, str)
        }
        at = raw.get("at")
        state = WaveState(str(raw.get("state")))
    except (ValueError, TypeError):
        return None
    if not changes or not isinstance(at, int) or isinstance(at, bool):
        return None
    return WaveRecord(changes, at, state, as_str(raw.get("reason")) or "")


def record_value(record: WaveRecord) -> str:
    body: dict[str, Any] = {"changes": dict(sorted(record.changes.items())), "at": record.at}
    body["state"] = record.state.value
    if record.reason:
        body["reason"] = record.reason
    return json.dumps(body, separators=(",", ":"))


def record_patch(
    record: WaveRecord, names: AnnotationNames, *, consume_release: bool = False
) -> dict[str, Any]:
    """A metadata merge patch writing ``record`` (and removing the release annotation)."""
    annotations: dict[str, str | None] = {names.wave: record_value(record)}
    if consume_release:
        annotations[names.release_halted] = None
    return {"metadata": {"annotations": annotations}}


def judged_failed(annotations: Mapping[str, str], names: AnnotationNames) -> bool:
    """Whether the workload's last rollout was judged failed (or released): it will not finish
    by itself, so a newer change (a fix) is not held waiting for it (flapping protection)."""
    record = read_record(annotations, names)
    return record is not None and record.state in (WaveState.FAILED, WaveState.RELEASED)


def release_requested(annotations: Mapping[str, str], names: AnnotationNames) -> bool:
    return parse_bool(annotations.get(names.release_halted, "")) is True


# ---------------------------------------------------------------------------- sizes and timeouts
def parse_canary_size(text: str) -> tuple[int, float]:
    """``"N"`` (a count) → (N, 0); ``"P%"`` (a share of the targets) → (0, P/100).

    ``"0"`` turns waves off. Raises ValueError naming what is wrong.
    """
    text = text.strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1])
        except ValueError:
            share = -1.0
        if not 0 < share <= 100:
            raise ValueError(f"expected a share between 0% and 100%, got {text!r}")
        return 0, share / 100
    if not text.isdigit():
        raise ValueError(f"expected a workload count (N) or a share (P%), got {text!r}")
    return int(text), 0.0


def canary_count(size: tuple[int, float], targets: int) -> int:
    """How many targets the canary wave rolls (at least 1 when waves are on)."""
    count, share = size
    if share:
        return max(1, math.ceil(share * targets))
    return count


def canary_size_for(
    annotations: Mapping[str, str], names: AnnotationNames, default: str
) -> tuple[tuple[int, float], tuple[str, ...]]:
    """The canary size of a change of this source (its annotation, else the flag)."""
    text = annotations.get(names.canary_size)
    if text is not None:
        try:
            return parse_canary_size(text), ()
        except ValueError as exc:
            warning = annotation_warning(
                names.canary_size, f"{quote(text)}: {exc}: using {default}"
            )
            return parse_canary_size(default), (warning,)
    return parse_canary_size(default), ()


def health_timeout(
    annotations: Mapping[str, str],
    names: AnnotationNames,
    *,
    default: float,
    progress_deadline: int | None,
) -> tuple[float, tuple[str, ...]]:
    """Seconds a rolled target has to become complete and healthy.

    The workload's ``health-timeout`` annotation, else the flag; the flag's 0 means 5 minutes,
    but at most 80 % of the progress deadline of a Deployment or Rollout (whose controller gives up
    at the deadline; we judge before it does).
    """
    warnings: tuple[str, ...] = ()
    text = annotations.get(names.health_timeout)
    if text is not None:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            seconds, problem = 0.0, str(exc)
        else:
            problem = "must be positive"
        if seconds > 0:
            return seconds, ()
        warnings = (annotation_warning(names.health_timeout, f"{quote(text)}: {problem}"),)
    if default > 0:
        return default, warnings
    if progress_deadline:
        return min(DEFAULT_HEALTH_TIMEOUT, DEADLINE_SHARE * progress_deadline), warnings
    return DEFAULT_HEALTH_TIMEOUT, warnings


# ---------------------------------------------------------------------------- the wave decision
class PeerStatus(StrEnum):
    """Where one target stands for one change."""

    PENDING = "pending"  # will roll for the change, has not yet
    ROLLING = "rolling"  # rolled, verdict not in yet
    DONE = "done"  # rolled and healthy (or rolled without waves: nothing to judge)
    FAILED = "failed"  # rolled and not healthy: the change halts
    RELEASED = "released"  # failed, released by an operator


@dataclass(frozen=True, slots=True)
class Peer:
    """One target of a change, as every target's reconcile sees it."""

    name: str  # ``kind/name``: the workloads of one change share a namespace
    status: PeerStatus
    preferred: bool = False
    #: the failure, for a FAILED peer
    reason: str = ""


def status_of(record: WaveRecord | None, change: str, version: str, *, rolled: bool) -> PeerStatus:
    """A target's status for (change, version): ``rolled`` says whether it carries that version."""
    if not rolled:
        return PeerStatus.PENDING
    if record is None or not record.carries(change, version):
        return PeerStatus.DONE
    return {
        WaveState.ROLLING: PeerStatus.ROLLING,
        WaveState.HEALTHY: PeerStatus.DONE,
        WaveState.FAILED: PeerStatus.FAILED,
        WaveState.RELEASED: PeerStatus.RELEASED,
    }[record.state]


class Go(StrEnum):
    ROLL = "roll"  # roll now (in the current wave, or no waves for this change)
    WAIT = "wait"  # a wave is under way, or this target's wave has not come
    HALTED = "halted"  # a rolled target failed: nothing more rolls for this change


@dataclass(frozen=True, slots=True)
class WaveDecision:
    go: Go
    #: whether the change rolls in waves at all (two targets or more); a waved roll is recorded
    waved: bool = False
    #: the failed target, for HALTED
    failed: Peer | None = None
    #: the wave this target rolls in, or waits for (1: the canary wave)
    wave: int = 0
    targets: int = 0
    rolled: int = 0


def _order(peer: Peer) -> tuple[bool, str]:
    return (not peer.preferred, peer.name)


def wave_number(rolled: int, canary: int) -> int:
    """The wave that starts once ``rolled`` targets have rolled (1: the canary wave)."""
    wave, done = 1, 0
    while done < rolled:
        done = max(canary, 2 * done) if done else canary
        wave += 1
    return wave


def decide(me: str, peers: Sequence[Peer], size: tuple[int, float]) -> WaveDecision:
    """Whether target ``me`` (one of ``peers``, PENDING) rolls now for this change.

    One target: no waves. A failed target (not released) halts the change. A target still
    rolling holds everyone. Otherwise the next wave admits up to ``max(canary, 2 * rolled)``
    targets in all, in order (preferred canaries first, then by name).
    """
    targets = len(peers)
    canary = canary_count(size, targets)
    if targets < 2 or canary <= 0:
        return WaveDecision(Go.ROLL, targets=targets)
    rolled = sum(1 for p in peers if p.status is not PeerStatus.PENDING)
    failed = next((p for p in sorted(peers, key=_order) if p.status is PeerStatus.FAILED), None)
    wait = WaveDecision(
        Go.WAIT, waved=True, targets=targets, rolled=rolled, wave=wave_number(rolled, canary)
    )
    if failed is not None:
        return replace(wait, go=Go.HALTED, failed=failed)
    if any(p.status is PeerStatus.ROLLING for p in peers):
        return wait
    allowed = max(canary, 2 * rolled) if rolled else canary
    pending = sorted((p for p in peers if p.status is PeerStatus.PENDING), key=_order)
    position = next((i for i, p in enumerate(pending) if p.name == me), len(pending))
    return replace(wait, go=Go.ROLL) if rolled + position < allowed else wait


_STRICTNESS = {Go.HALTED: 0, Go.WAIT: 1, Go.ROLL: 2}


def governing(decisions: Sequence[WaveDecision]) -> int | None:
    """Which decision governs a workload that rolls several changes at once (one write): a
    halted one before a waiting one before a rolling one; among equals the first waved. The
    index, or None when none is waved (no waves: roll)."""
    waved = [i for i, d in enumerate(decisions) if d.waved]
    return min(waved, key=lambda i: (_STRICTNESS[decisions[i].go], i)) if waved else None


# ---------------------------------------------------------------------------- health
@dataclass(frozen=True, slots=True)
class Verdict:
    state: WaveState  # ROLLING (not decided yet), HEALTHY or FAILED
    reason: str = ""
    #: seconds until the timeout, when still ROLLING
    retry_after: float = 0.0


@dataclass(frozen=True, slots=True)
class Rollout:
    """What a verdict reads of the workload: its status, and its new pods when they were read
    (``wave_pods.py``)."""

    complete: bool
    #: why the rollout will not finish by itself (progress deadline exceeded, degraded), or ""
    failure: str = ""
    #: what is wrong with a new pod (crash looping), or ""
    problem: str = ""


def judge(rollout: Rollout, *, since: int, now: float, timeout: float) -> Verdict:
    """The verdict on a rolled target: healthy once complete with no new pod crashing; failed
    when a new pod crashes, the rollout fails, or ``timeout`` passes first."""
    if rollout.failure:
        return Verdict(WaveState.FAILED, rollout.failure)
    if rollout.problem:
        return Verdict(WaveState.FAILED, rollout.problem)
    if rollout.complete:
        return Verdict(WaveState.HEALTHY)
    left = since + timeout - now
    if left <= 0:
        return Verdict(WaveState.FAILED, f"not complete and healthy within {_seconds(timeout)}")
    return Verdict(WaveState.ROLLING, retry_after=left)


def _seconds(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"
