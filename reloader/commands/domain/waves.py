"""explain's wave part: the workload's wave record, and what the waves decide for the shared
changes its plan rolls (roll in this wave, wait for a later one, halted), from the controller's own
``reload/waves.py`` over the workloads and sources of one LIST (docs/waves.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reloader.core.durations import format_time
from reloader.core.objects import ObjectKey
from reloader.reload.domain.candidates import is_peer
from reloader.reload.domain.plans import plan_over_list
from reloader.reload.domain.views import WorkloadView
from reloader.reload.waves import ReloadWaves
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.waves import Go, read_record

if TYPE_CHECKING:
    from collections.abc import Sequence

    from reloader.core.annotations import SourceKind
    from reloader.reload.domain.plans import ReloadPlan, RolledSource
    from reloader.reload.domain.views import SourceView
    from reloader.settings import Settings


@dataclass(frozen=True, slots=True)
class WaveExplanation:
    #: the workload's own wave record: state, changes (``configmap/app 3f2a…``), when, why
    record_state: str | None = None
    record_changes: tuple[str, ...] = ()
    record_at: str | None = None
    record_reason: str = ""
    #: for a plan that rolls a shared change: roll, wait or halted, and about which change
    decision: str | None = None
    change: str = ""
    wave: int = 0
    targets: int = 0
    rolled: int = 0
    #: for halted: the failed workload, why, and how to release it
    failed: str = ""
    failed_reason: str = ""
    release: str = ""


def explain_wave(
    *,
    workload: WorkloadView,
    plan: ReloadPlan,
    workloads: Sequence[WorkloadView],
    sources: Sequence[SourceView],
    settings: Settings,
    now: datetime,
) -> WaveExplanation | None:
    """None when the workload has no wave record and its plan rolls no shared change."""
    names = settings.names
    record = read_record(workload.annotations, names)
    by_key = {ObjectKey(w.kind, w.namespace, w.name): w for w in workloads}
    me = ObjectKey(workload.kind, workload.namespace, workload.name)
    by_key[me] = workload

    def plan_of(key: ObjectKey, view: WorkloadView) -> ReloadPlan:
        now_unix = int(now.timestamp())
        kind = KINDS[key.kind]
        return plan_over_list(
            workload=view, kind=kind, sources=sources, settings=settings, now_unix=now_unix
        )[1]

    def source(kind: SourceKind, namespace: str, name: str) -> SourceView | None:
        return next(
            (s for s in sources if (s.kind, s.namespace, s.name) == (kind, namespace, name)), None
        )

    def peers_of(rolled: RolledSource, namespace: str) -> list[ObjectKey]:
        ref = (rolled.source_kind, namespace, rolled.name)
        return [k for k, v in by_key.items() if k.namespace == namespace and is_peer(v, ref, names)]

    waves = ReloadWaves(
        names=names,
        canary_size=settings.safety.canary_size,
        workload=by_key.get,
        source=source,
        peers_of=peers_of,
        plan=plan_of,
    )
    wave = waves.decide(me, workload, plan) if plan.rolled else None
    decision = wave.decision if wave is not None and wave.decision.waved else None
    if record is None and decision is None:
        return None
    out = WaveExplanation()
    if record is not None:
        out = WaveExplanation(
            record_state=record.state.value,
            record_changes=tuple(f"{k} {v[:12]}" for k, v in sorted(record.changes.items())),
            record_at=format_time(datetime.fromtimestamp(record.at, UTC)),
            record_reason=record.reason,
        )
    if decision is None or wave is None:
        return out
    failed = decision.failed
    release = ""
    if failed is not None:
        kind, _, name = failed.name.partition("/")
        release = (
            f"kubectl annotate {kind} {name} -n {workload.namespace} {names.release_halted}=true"
        )
    return replace(
        out,
        decision=decision.go.value,
        change=wave.describe(),
        wave=decision.wave,
        targets=decision.targets,
        rolled=decision.rolled,
        failed=failed.name if failed is not None else "",
        failed_reason=failed.reason if failed is not None else "",
        release=release,
    )


def wave_lines(wave: WaveExplanation | None) -> list[str]:
    """The human-readable lines of explain's wave part."""
    if wave is None:
        return []
    lines = ["", "Waves:"]
    if wave.record_state is not None:
        why = f" ({wave.record_reason})" if wave.record_reason else ""
        lines.append(
            f"  rolled in a wave at {wave.record_at}: {', '.join(wave.record_changes)}: "
            f"{wave.record_state}{why}"
        )
    if wave.decision == Go.HALTED.value:
        lines.append(f"  {wave.change}: HALTED: failed on {wave.failed} ({wave.failed_reason})")
        lines.append(f"    release: {wave.release}")
    elif wave.decision == Go.WAIT.value:
        lines.append(
            f"  {wave.change}: waits for its wave ({wave.rolled} of {wave.targets} rolled, "
            f"wave {wave.wave} next)"
        )
    elif wave.decision == Go.ROLL.value:
        lines.append(
            f"  {wave.change}: rolls in wave {wave.wave} ({wave.rolled} of {wave.targets} rolled)"
        )
    return lines
