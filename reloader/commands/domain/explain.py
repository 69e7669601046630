"""``reloader explain``: what the controller does with a workload, and why, assembled from the
controller's own rules, so the explanation cannot drift from the behaviour.

The reload part is the controller's decision: the candidate and missing sources
(``reload.domain.candidates``), the plan (``reload.domain.plans.plan_over_list``, with the
run's settings), the watched kinds (``enabled_kinds``), then the holds it can see (a reload
window, a rollout still in progress). For each source the workload references (or names in an
explicit list, or recorded): how it is referenced (container, env / envFrom / volume / projected /
csi, init container), the decision and the annotation behind it, the hash recorded on the
workload and the current one. Plus the restart schedule, if any, with its next fire time.

What only the running controller knows is said, not guessed: which sources it saw created
(``--reload-on-create``) and how many rollout slots are taken (``--max-rollouts-*``). Pure: the
caller passes the views, the window and ``now``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.durations import format_time
from reloader.reload.domain.plans import ReloadPlan, plan_over_list
from reloader.schedule.domain.patches import recorded_replicas
from reloader.schedule.domain.schedules import (
    Action,
    ScheduleNames,
    decide_schedule,
    jitter_seconds,
    parse_schedule,
    read_state,
)
from reloader.workloads.domain.hooks import HookNames, HookPoint, parse_hooks, read_progress

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.windows import Window

from reloader.commands.domain.report import (
    KIND_NOT_WATCHED,
    MISSING,
    NAMESPACE_NOT_WATCHED,
    NOT_RECORDED,
    RELOAD,
    Explanation,
    HookExplanation,
    HooksExplanation,
    ScheduleExplanation,
    SourceExplanation,
    Verdict,
)
from reloader.commands.domain.sources import explain_sources
from reloader.commands.domain.verdicts import verdict
from reloader.commands.domain.waves import explain_wave


def _notes(
    *,
    result: Verdict,
    sources: Sequence[SourceExplanation],
    explicit: bool,
    settings: Settings,
) -> tuple[str, ...]:
    notes: list[str] = []
    safety = settings.safety
    if result.verdict == RELOAD and (safety.max_rollouts or safety.max_rollouts_per_namespace):
        notes.append(
            "the rollout limits (--max-rollouts-in-progress, --max-rollouts-per-namespace) may "
            "hold it while other rollouts are under way: explain cannot see the controller's "
            "rollout slots"
        )
    if settings.reload.reload_on_create and result.reason not in (
        KIND_NOT_WATCHED,
        NAMESPACE_NOT_WATCHED,
    ):
        unrecorded = [f"{s.kind} {s.name}" for s in sources if s.status == NOT_RECORDED]
        missing = [f"{s.kind} {s.name}" for s in sources if s.status == MISSING]
        note = (
            "--reload-on-create: a source created while the controller runs, after it first "
            "saw this workload, rolls it instead of being recorded; explain cannot see which "
            "creations the running controller saw"
        )
        if unrecorded:
            note += (
                f"; for {', '.join(unrecorded)} (not recorded yet) it shows what a controller "
                "that starts now does: record without a rollout"
            )
        if missing or explicit:
            named = [", ".join(missing)] if missing else []
            named += ["a source the explicit reload list names"] if explicit else []
            note += (
                f"; creating {' or '.join(named)} while the controller runs rolls the workload, "
                "if its decision selects it"
            )
        notes.append(note)
    return tuple(notes)


def explain_reload(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    sources: Sequence[SourceView],
    settings: Settings,
    namespace_watched: bool,
    window: Window | None,
    now: datetime,
) -> tuple[Verdict, tuple[SourceExplanation, ...], ReloadPlan, tuple[str, ...]]:
    """The verdict, the per-source explanations, the plan and the notes, given ``sources``: the
    workload's namespace's sources of the watched kinds (as a LIST returns them)."""
    found, plan = plan_over_list(
        workload=workload,
        kind=kind,
        sources=sources,
        settings=settings,
        now_unix=int(now.timestamp()),
    )
    explained = explain_sources(
        workload=workload, kind=kind, found=found, plan=plan, settings=settings
    )
    result = verdict(
        workload=workload,
        kind=kind,
        plan=plan,
        settings=settings,
        namespace_watched=namespace_watched,
        window=window,
        now=now,
    )
    explicit = any(
        k.explicit_key(settings.names) in workload.annotations
        or k.explicit_key(settings.names) in workload.template_annotations
        for k in SourceKind
    )
    notes = _notes(result=result, sources=explained, explicit=explicit, settings=settings)
    return result, explained, plan, notes


def explain_schedule(
    *,
    workload: WorkloadView,
    names: ScheduleNames,
    now: datetime,
    deadline: float,
    max_jitter: int = 0,
) -> tuple[ScheduleExplanation | None, tuple[str, ...]]:
    """The schedule of the workload as the schedule controller sees it at ``now``."""
    annotations = workload.annotations
    schedule, warnings = parse_schedule(annotations, kind=workload.kind, names=names)
    state = read_state(annotations, names=names)
    replicas, replica_warnings = recorded_replicas(annotations, names=names)
    warnings = (*warnings, *state.warnings, *replica_warnings)
    if schedule is None:
        return None, warnings
    jitter = jitter_seconds(workload.namespace, workload.name, max_jitter)
    decision = decide_schedule(
        schedule=schedule, state=state, now=now, deadline=deadline, jitter=jitter
    )
    slot = format_time(decision.slot) if decision.slot is not None else ""
    notes = {
        Action.ADOPT: "not seen by the controller yet: it records a baseline, restarts nothing",
        Action.WAIT: "nothing due",
        Action.RESTART: f"the slot {slot} is due: the controller restarts now",
        Action.SKIP: f"the slot {slot} was missed by more than the deadline: it is skipped",
    }
    due = decision.due
    return (
        ScheduleExplanation(
            expression=schedule.expression,
            timezone=schedule.timezone,
            method=schedule.method.value,
            deadline_seconds=schedule.deadline or deadline,
            jitter_seconds=jitter,
            last_restart=format_time(state.last_restart) if state.last_restart else None,
            baseline=format_time(state.baseline) if state.baseline else None,
            next_restart=format_time(due) if due is not None else None,
            next_restart_local=(
                due.astimezone(schedule.zone).isoformat() if due is not None else None
            ),
            action=decision.action.value,
            note=notes[decision.action],
            stop_start_replicas=replicas,
        ),
        warnings,
    )


def explain_hooks(
    annotations: Mapping[str, str], *, names: HookNames, stop_start: bool
) -> tuple[HooksExplanation | None, tuple[str, ...]]:
    """The workload's restart hooks, their last results and a restart in progress."""
    hooks, warnings = parse_hooks(annotations, names=names, stop_start=stop_start)
    progress = read_progress(annotations, names)
    if not hooks.any and progress is None:
        return None, warnings
    try:
        results = json.loads(annotations.get(names.results) or "{}")
    except ValueError:
        results = {}
    listed = tuple(
        HookExplanation(point.value, hook.describe(), results.get(point.value))
        for point in HookPoint
        if (hook := hooks.at(point)) is not None
    )
    return (
        HooksExplanation(
            hooks=listed,
            timeout_seconds=hooks.timeout,
            stay_stopped=hooks.stay_stopped,
            restart=progress.restart if progress else None,
            step=progress.step.value if progress else None,
            attempt=progress.attempt if progress else 1,
        ),
        warnings,
    )


def explain(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    sources: Sequence[SourceView],
    settings: Settings,
    now: datetime,
    namespace_watched: bool = True,
    window: Window | None = None,
    window_warnings: tuple[str, ...] = (),
    schedule_names: ScheduleNames | None = None,
    workloads: Sequence[WorkloadView] = (),
) -> Explanation:
    """Everything ``reloader explain`` shows about one workload.

    ``sources``: the sources of the workload's namespace of the watched kinds; ``window``: its
    reload window (``workloads.admission.window_for``), ``namespace_watched``: whether the
    controller's scope includes its namespace; ``workloads``: the workloads of its namespace of
    the kinds with rollouts (the other targets of its shared changes, for the waves).
    """
    result, explained, plan, notes = explain_reload(
        workload=workload,
        kind=kind,
        sources=sources,
        settings=settings,
        namespace_watched=namespace_watched,
        window=window,
        now=now,
    )
    schedule, schedule_warnings = explain_schedule(
        workload=workload,
        names=schedule_names or ScheduleNames(),
        now=now,
        deadline=settings.schedule.deadline_seconds,
        max_jitter=settings.schedule.jitter_seconds,
    )
    hooks, hook_warnings = explain_hooks(
        workload.annotations,
        names=HookNames(),
        stop_start=schedule is not None and schedule.method == "stop-start",
    )
    pending = tuple(f"{r.source_kind.record_prefix}/{r.name}" for r in plan.rolled)
    wave = explain_wave(
        workload=workload,
        plan=plan,
        workloads=workloads,
        sources=sources,
        settings=settings,
        now=now,
    )
    if result.verdict == RELOAD and wave is not None and wave.decision in ("wait", "halted"):
        detail = (
            f"{wave.change} failed on {wave.failed}: halted"
            if wave.decision == "halted"
            else f"{wave.change} rolls in health-gated waves: this workload's has not come yet"
        )
        result = Verdict("held", "halted" if wave.decision == "halted" else "wave", detail)
    return Explanation(
        kind=workload.kind,
        namespace=workload.namespace,
        name=workload.name,
        verdict=result.verdict,
        verdict_reason=result.reason,
        verdict_detail=result.detail,
        sources=explained,
        pending=bool(pending),
        pending_sources=pending,
        held_until=result.held_until,
        notes=notes,
        warnings=tuple(dict.fromkeys((*plan.warnings, *window_warnings))),
        schedule=schedule,
        schedule_warnings=(*schedule_warnings, *hook_warnings),
        hooks=hooks,
        wave=wave,
    )
