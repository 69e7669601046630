"""``reloader explain``: why a workload reloads (or not), assembled from the same views and
decisions the controllers use, so the explanation cannot drift from the behaviour.

For each source the workload references (or names in an explicit list): how it is referenced
(container, env / envFrom / volume / projected / csi, init container), the decision and the
annotation behind it, the hash recorded on the workload and the current one, and so whether a
reload is pending. Plus the restart schedule, if any, with its next fire time. Pure: the caller
passes the views and ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.durations import format_time
from reloader.reload.domain.decisions import (
    AUTO,
    AUTO_ALL,
    EXCLUDED,
    EXPLICIT,
    IGNORED,
    SEARCH,
    WORKLOAD_TYPE_IGNORED,
    Decision,
    decide,
    selection_source,
)
from reloader.reload.domain.plans import NO_CONTAINER, parse_record, plan_reload
from reloader.schedule.domain.patches import recorded_replicas
from reloader.schedule.domain.schedules import (
    Action,
    ScheduleNames,
    decide_schedule,
    jitter_seconds,
    parse_schedule,
    read_state,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from reloader.core.annotations import AnnotationNames
    from reloader.reload.domain.decisions import DecisionOptions
    from reloader.reload.domain.plans import Strategy
    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.workloads.domain.kinds import WorkloadKind

KIND_NAMES = {
    SourceKind.CONFIGMAP: "ConfigMap",
    SourceKind.SECRET: "Secret",
    SourceKind.SECRETPROVIDERCLASS: "SecretProviderClass",
}

# statuses of one source
IN_SYNC = "in-sync"  # the recorded hash is the current one
PENDING = "reload-pending"  # the controller will roll the workload for it
NOT_RECORDED = "not-recorded"  # selected, no baseline yet: recorded without a rollout
NOT_RELOADED = "not-reloaded"  # a change of it does not reload the workload
MISSING = "missing"  # referenced but does not exist
GONE = "deleted"  # recorded, no longer exists


@dataclass(frozen=True, slots=True)
class Use:
    """One reference of the source by the pod template."""

    container: str
    via: str  # env, envFrom, volume, projected, csi
    init: bool = False
    volume: str | None = None


@dataclass(frozen=True, slots=True)
class SourceExplanation:
    kind: str
    name: str
    exists: bool
    uses: tuple[Use, ...]
    reload: bool
    #: the decision's reason (explicit, search, auto, auto-all, excluded, ignored, ...)
    reason: str
    #: the annotation (or flag) behind the decision, as ``key: "value"``
    annotation: str | None
    detail: str
    recorded_hash: str | None
    current_hash: str | None
    status: str


@dataclass(frozen=True, slots=True)
class ScheduleExplanation:
    expression: str
    timezone: str
    method: str
    deadline_seconds: float
    jitter_seconds: int
    last_restart: str | None
    baseline: str | None
    #: the next restart (UTC, RFC 3339) once the controller has handled what is due now
    next_restart: str | None
    #: the same instant in the schedule's time zone
    next_restart_local: str | None
    #: what the controller does at its next reconcile (adopt, wait, restart, skip)
    action: str
    note: str
    #: an unfinished stop-start: the replica count it scales back to
    stop_start_replicas: int | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    kind: str
    namespace: str
    name: str
    sources: tuple[SourceExplanation, ...]
    pending: bool
    pending_sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schedule: ScheduleExplanation | None = None
    schedule_warnings: tuple[str, ...] = field(default_factory=tuple)


def _quoted(key: str, annotations: Mapping[str, str]) -> str:
    return f'{key}: "{annotations.get(key, "")}"'


def _why(
    decision: Decision,
    source: SourceView,
    workload: WorkloadView,
    names: AnnotationNames,
) -> tuple[str | None, str]:
    """The annotation behind a decision, and a sentence saying what it means."""
    keys = (
        source.kind.explicit_key(names),
        names.auto,
        source.kind.typed_auto_key(names),
        names.search,
    )
    selection, on_template = selection_source(workload, keys)
    where = " (on the pod template)" if on_template else ""
    reason = decision.reason
    if reason == EXPLICIT:
        return _quoted(keys[0], selection) + where, "named in the workload's explicit reload list"
    if reason == SEARCH:
        annotation = f'{_quoted(names.search, selection)}{where} + {names.match}: "true"'
        return annotation, "search on the workload, match on the source"
    if reason == AUTO:
        key = next(k for k in (names.auto, keys[2]) if selection.get(k, "").lower() == "true")
        return _quoted(key, selection) + where, "every source the pod template uses reloads it"
    if reason == AUTO_ALL:
        return "--auto-reload-all", "no auto annotation, and the controller reloads all"
    if reason == EXCLUDED:
        key = source.kind.exclude_key(names)
        return _quoted(key, workload.annotations), "excluded by the workload"
    if reason == IGNORED:
        return f'{names.ignore}: "true"', f"the {KIND_NAMES[source.kind]} opts out"
    if reason == WORKLOAD_TYPE_IGNORED:
        return "--ignored-workload-types", "this kind is never reloaded"
    return None, (
        f'no reload annotation selects it (e.g. {names.auto}: "true" or {keys[0]} naming it)'
    )


def explain_reload(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    sources: Sequence[SourceView],
    strategy: Strategy,
    names: AnnotationNames,
    options: DecisionOptions,
    now_unix: int,
) -> tuple[tuple[SourceExplanation, ...], tuple[str, ...], tuple[str, ...]]:
    """Per-source explanations, the pending sources (``configmap/name``), and the warnings."""
    plan = plan_reload(
        workload=workload,
        kind=kind,
        sources=sources,
        strategy=strategy,
        names=names,
        options=options,
        now_unix=now_unix,
    )
    stored, _ = parse_record(workload.annotations.get(names.applied_hashes), key="")
    rolled = {(r.source_kind, r.name) for r in plan.rolled}
    skipped = {(s.kind, s.name): reason for s, reason in plan.skipped}
    uses: dict[tuple[SourceKind, str], list[Use]] = {}
    for ref in workload.references:
        uses.setdefault((ref.source_kind, ref.name), []).append(
            Use(ref.container, ref.via, ref.init, ref.volume)
        )
    by_key = {(s.kind, s.name): s for s in sources if s.namespace == workload.namespace}
    out: list[SourceExplanation] = []
    for key in sorted(set(uses) | set(by_key)):
        source_kind, name = key
        record_key = source_kind.record_key(name)
        source = by_key.get(key)
        recorded = stored.get(record_key)
        if source is None:
            detail = "referenced by the pod template, but it does not exist"
            out.append(
                SourceExplanation(
                    kind=KIND_NAMES[source_kind],
                    name=name,
                    exists=False,
                    uses=tuple(uses[key]),
                    reload=False,
                    reason=MISSING,
                    annotation=None,
                    detail=detail,
                    recorded_hash=recorded,
                    current_hash=None,
                    status=MISSING,
                )
            )
            continue
        decision = decide(source=source, workload=workload, kind=kind, names=names, options=options)
        if key not in uses and not decision.reload:
            continue  # a source of the namespace that the explicit list does not name
        annotation, detail = _why(decision, source, workload, names)
        current = plan.record.get(record_key, source.hash)
        reload = decision.reload and skipped.get(key) != NO_CONTAINER
        if decision.reload and not reload:
            detail = "selected, but no container references it: nothing to stamp"
        if key in rolled:
            status = PENDING
        elif record_key in plan.adopted:
            status = NOT_RECORDED
        elif not reload:
            status = NOT_RELOADED
        else:
            status = IN_SYNC
        out.append(
            SourceExplanation(
                kind=KIND_NAMES[source_kind],
                name=name,
                exists=True,
                uses=tuple(uses.get(key, ())),
                reload=reload,
                reason=NO_CONTAINER if decision.reload and not reload else decision.reason,
                annotation=annotation,
                detail=detail,
                recorded_hash=recorded,
                current_hash=current,
                status=status,
            )
        )
    known = {k.record_key(n) for k, n in set(uses) | set(by_key)}
    for record_key in sorted(stored.keys() - known):
        prefix, _, name = record_key.partition("/")
        gone_kind = next((k for k in SourceKind if k.record_prefix == prefix), None)
        if gone_kind is not None:
            out.append(
                SourceExplanation(
                    kind=KIND_NAMES[gone_kind],
                    name=name,
                    exists=False,
                    uses=(),
                    reload=False,
                    reason=GONE,
                    annotation=None,
                    detail="recorded on the workload; no longer referenced, or deleted",
                    recorded_hash=stored[record_key],
                    current_hash=None,
                    status=GONE,
                )
            )
    pending = tuple(f"{r.source_kind.record_prefix}/{r.name}" for r in plan.rolled)
    return tuple(out), pending, plan.warnings


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


def explain(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    sources: Sequence[SourceView],
    strategy: Strategy,
    names: AnnotationNames,
    options: DecisionOptions,
    now: datetime,
    schedule_names: ScheduleNames,
    deadline: float,
    max_jitter: int = 0,
) -> Explanation:
    """Everything ``reloader explain`` shows about one workload."""
    explained, pending, warnings = explain_reload(
        workload=workload,
        kind=kind,
        sources=sources,
        strategy=strategy,
        names=names,
        options=options,
        now_unix=int(now.timestamp()),
    )
    schedule, schedule_warnings = explain_schedule(
        workload=workload, names=schedule_names, now=now, deadline=deadline, max_jitter=max_jitter
    )
    return Explanation(
        kind=workload.kind,
        namespace=workload.namespace,
        name=workload.name,
        sources=explained,
        pending=bool(pending),
        pending_sources=pending,
        warnings=warnings,
        schedule=schedule,
        schedule_warnings=schedule_warnings,
    )
