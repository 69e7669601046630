"""``reloader explain``: what the controller does with a workload, and why, assembled from the
controller's own rules, so the explanation cannot drift from the behaviour.

The reload part is the controller's decision: the candidate and missing sources
(``reload.domain.candidates``), the plan (``reload.domain.plans.plan_with_settings``, with the
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

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.durations import format_time
from reloader.reload.domain.candidates import RESOURCE_NAMES, Candidates, candidates, watched_kinds
from reloader.reload.domain.decisions import (
    Decision,
    DecisionOptions,
    DecisionReason,
    decide,
    selection_source,
)
from reloader.reload.domain.plans import (
    PlanReason,
    ReloadPlan,
    parse_record,
    plan_with_settings,
)
from reloader.schedule.domain.patches import recorded_replicas
from reloader.schedule.domain.schedules import (
    Action,
    ScheduleNames,
    decide_schedule,
    jitter_seconds,
    parse_schedule,
    read_state,
)
from reloader.workloads.domain.kinds import enabled_kinds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from reloader.core.annotations import AnnotationNames
    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.windows import Window

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
GONE = "deleted"  # recorded, deleted: its recorded hash is kept
DROPPED = "dropped"  # recorded, no longer selected: the entry goes at the next reconcile
NOT_WATCHED = "not-watched"  # a kind the controller does not watch: not read

# verdicts: what the controller does at its next reconcile of the workload
RELOAD = "reload"
HELD = "held"
NOTIFY = "notify"  # webhook mode: a POST instead of a rollout
NO_RELOAD = "no-reload"

# why (verdict_reason)
CHANGED = "changed"  # reload: sources changed since they were recorded
WINDOW = "window"  # held: outside the reload window
ROLLING = "rollout-in-progress"  # held: its previous rollout has not completed
WEBHOOK = "webhook"
KIND_NOT_WATCHED = "kind-not-watched"
NAMESPACE_NOT_WATCHED = "namespace-not-watched"
RECORD_ONLY = "record-only"  # the record is written, nothing rolls
NOT_SELECTED = "not-selected"  # no source selects a reload


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
    #: None: not read (a kind the controller does not watch)
    exists: bool | None
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
    #: what the controller does at its next reconcile: reload, held, notify, no-reload
    verdict: str
    #: why, as a code (changed, deleted, window, rollout-in-progress, in-sync, ...)
    verdict_reason: str
    verdict_detail: str
    sources: tuple[SourceExplanation, ...]
    pending: bool
    pending_sources: tuple[str, ...] = ()
    #: held by the reload window: when it opens (UTC, RFC 3339)
    held_until: str | None = None
    #: what explain cannot see and how it would change the answer
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    schedule: ScheduleExplanation | None = None
    schedule_warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    reason: str
    detail: str
    held_until: str | None = None


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
    if reason == DecisionReason.EXPLICIT:
        return _quoted(keys[0], selection) + where, "named in the workload's explicit reload list"
    if reason == DecisionReason.SEARCH:
        annotation = f'{_quoted(names.search, selection)}{where} + {names.match}: "true"'
        return annotation, "search on the workload, match on the source"
    if reason == DecisionReason.AUTO:
        key = next(k for k in (names.auto, keys[2]) if selection.get(k, "").lower() == "true")
        return _quoted(key, selection) + where, "every source the pod template uses reloads it"
    if reason == DecisionReason.AUTO_ALL:
        return "--auto-reload-all", "no auto annotation, and the controller reloads all"
    if reason == DecisionReason.EXCLUDED:
        key = source.kind.exclude_key(names)
        return _quoted(key, workload.annotations), "excluded by the workload"
    if reason == DecisionReason.IGNORED:
        return f'{names.ignore}: "true"', f"the {KIND_NAMES[source.kind]} opts out"
    if reason == DecisionReason.WORKLOAD_TYPE_IGNORED:
        return "--ignored-workload-types", "this kind is never reloaded"
    return None, (
        f'no reload annotation selects it (e.g. {names.auto}: "true" or {keys[0]} naming it)'
    )


def _deleted_detail(settings: Settings) -> str:
    if settings.reload.strategy == "env-vars":
        return "deleted: --reload-on-delete rolls the workload, removing its STAKATER_ env var"
    return "deleted: --reload-on-delete rolls the workload, last-reloaded-from gets the delete hash"


def _not_watched(source_kind: SourceKind, settings: Settings) -> str:
    if source_kind is SourceKind.SECRETPROVIDERCLASS and not settings.reload.csi:
        return "the controller does not watch SecretProviderClasses (no --enable-csi-integration)"
    resource = RESOURCE_NAMES[source_kind]
    return f"the controller does not watch {resource} (--resources-to-ignore={resource})"


def _absent(
    key: tuple[SourceKind, str],
    *,
    rolled: bool,
    found: Candidates,
    referenced: bool,
    settings: Settings,
) -> tuple[str, str, str, bool | None]:
    """Status, reason, detail and ``exists`` of a source the decision does not see."""
    source_kind, name = key
    if source_kind not in watched_kinds(settings.reload):
        return NOT_WATCHED, NOT_WATCHED, _not_watched(source_kind, settings), None
    if rolled:
        return PENDING, PlanReason.DELETED, _deleted_detail(settings), False
    if source_kind.record_key(name) in found.missing:
        detail = (
            "recorded, and deleted: its recorded hash is kept, so creating it again with other "
            "content rolls the workload"
        )
        if not settings.reload.reload_on_delete:
            detail += " (--reload-on-delete is off)"
        return GONE, GONE, detail, False
    if referenced:
        return MISSING, MISSING, "referenced by the pod template, but it does not exist", False
    return DROPPED, DROPPED, "recorded, no longer selected: dropped from the record", False


def _uses(workload: WorkloadView) -> dict[tuple[SourceKind, str], list[Use]]:
    """The pod template's references, per source."""
    uses: dict[tuple[SourceKind, str], list[Use]] = {}
    for ref in workload.references:
        uses.setdefault((ref.source_kind, ref.name), []).append(
            Use(ref.container, ref.via, ref.init, ref.volume)
        )
    return uses


def _explain_absent(
    key: tuple[SourceKind, str],
    *,
    uses: Mapping[tuple[SourceKind, str], list[Use]],
    recorded: str | None,
    rolled: bool,
    found: Candidates,
    settings: Settings,
) -> SourceExplanation:
    """The explanation of a source the decision does not see (see :func:`_absent`)."""
    source_kind, name = key
    status, reason, detail, exists = _absent(
        key, rolled=rolled, found=found, referenced=key in uses, settings=settings
    )
    return SourceExplanation(
        kind=KIND_NAMES[source_kind],
        name=name,
        exists=exists,
        uses=tuple(uses.get(key, ())),
        reload=status == PENDING,
        reason=reason,
        annotation=None,
        detail=detail,
        recorded_hash=recorded,
        current_hash=None,
        status=status,
    )


def _status(*, rolled: bool, adopted: bool, reload: bool, recorded: str | None) -> str:
    """The status of a source the decision sees."""
    if rolled:
        return PENDING
    if adopted:
        return NOT_RECORDED
    if not reload:
        return DROPPED if recorded is not None else NOT_RELOADED
    return IN_SYNC


def _explain_decided(
    source: SourceView,
    decision: Decision,
    *,
    uses: Sequence[Use],
    recorded: str | None,
    plan: ReloadPlan,
    rolled: bool,
    no_container: bool,
    workload: WorkloadView,
    names: AnnotationNames,
) -> SourceExplanation:
    """The explanation of a source the decision sees: its decision, as the plan applies it."""
    record_key = source.kind.record_key(source.name)
    annotation, detail = _why(decision, source, workload, names)
    reload = decision.reload and not no_container
    if decision.reload and not reload:
        detail = "selected, but no container references it: nothing to stamp"
    return SourceExplanation(
        kind=KIND_NAMES[source.kind],
        name=source.name,
        exists=True,
        uses=tuple(uses),
        reload=reload,
        reason=PlanReason.NO_CONTAINER if decision.reload and not reload else decision.reason,
        annotation=annotation,
        detail=detail,
        recorded_hash=recorded,
        current_hash=plan.record.get(record_key, source.hash),
        status=_status(
            rolled=rolled, adopted=record_key in plan.adopted, reload=reload, recorded=recorded
        ),
    )


def explain_sources(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    found: Candidates,
    plan: ReloadPlan,
    settings: Settings,
) -> tuple[SourceExplanation, ...]:
    """One explanation per source the workload references, selects or has recorded."""
    names = settings.names
    options = DecisionOptions.of(settings.reload)
    stored, _ = parse_record(workload.annotations.get(names.applied_hashes), key="")
    rolled = {(r.source_kind, r.name) for r in plan.rolled}
    skipped = {(s.kind, s.name): reason for s, reason in plan.skipped}
    uses = _uses(workload)
    by_key = {(s.kind, s.name): s for s in found.sources}
    recorded_keys = {p for k in stored if (p := SourceKind.of_record_key(k)) is not None}
    out: list[SourceExplanation] = []
    for key in sorted(set(uses) | set(by_key) | recorded_keys):
        source_kind, name = key
        recorded = stored.get(source_kind.record_key(name))
        source = by_key.get(key)
        if source is None:
            out.append(
                _explain_absent(
                    key,
                    uses=uses,
                    recorded=recorded,
                    rolled=key in rolled,
                    found=found,
                    settings=settings,
                )
            )
            continue
        decision = decide(source=source, workload=workload, kind=kind, names=names, options=options)
        if key not in uses and not decision.reload and recorded is None:
            continue  # a source of the namespace that the explicit list does not name
        out.append(
            _explain_decided(
                source,
                decision,
                uses=uses.get(key, ()),
                recorded=recorded,
                plan=plan,
                rolled=key in rolled,
                no_container=skipped.get(key) == PlanReason.NO_CONTAINER,
                workload=workload,
                names=names,
            )
        )
    return tuple(out)


def _scope_detail(namespace: str, settings: Settings) -> str:
    scope = settings.scope
    if scope.namespaces:
        return f"namespace {namespace} is not in --namespaces={','.join(scope.namespaces)}"
    if namespace in scope.namespaces_to_ignore:
        return f"namespace {namespace} is in --namespaces-to-ignore"
    return f"namespace {namespace} does not match --namespace-selector={scope.namespace_selector}"


def _not_reconciled(
    *, workload: WorkloadView, kind: WorkloadKind, settings: Settings, namespace_watched: bool
) -> Verdict | None:
    """No reload when the controller does not watch the workload's kind or namespace."""
    reload = settings.reload
    watched = enabled_kinds(
        ignored_workload_types=reload.ignored_workload_types, argo_rollouts=reload.argo_rollouts
    )
    if kind not in watched:
        flag = (
            f"--ignored-workload-types={kind.ignore_name}"
            if kind.ignore_name in reload.ignored_workload_types
            else "no --is-Argo-Rollouts"
        )
        return Verdict(
            NO_RELOAD,
            KIND_NOT_WATCHED,
            f"the controller does not watch {kind.kind}s ({flag}): no reloads, no scheduled "
            "restarts",
        )
    if not namespace_watched:
        return Verdict(
            NO_RELOAD,
            NAMESPACE_NOT_WATCHED,
            f"{_scope_detail(workload.namespace, settings)}: nothing there is reconciled",
        )
    return None


def _nothing_rolls(plan: ReloadPlan) -> Verdict:
    """No reload for a plan that rolls nothing: a record to write, in sync, or not selected."""
    if plan.patch is not None:
        return Verdict(
            NO_RELOAD,
            RECORD_ONLY,
            "the controller writes its record of the current hashes; nothing rolls",
        )
    if plan.record:
        return Verdict(NO_RELOAD, IN_SYNC, "every selected source is in sync with its record")
    return Verdict(NO_RELOAD, NOT_SELECTED, "no source selects a reload of this workload")


def _held(
    *,
    workload: WorkloadView,
    sources: str,
    settings: Settings,
    window: Window | None,
    now: datetime,
) -> Verdict | None:
    """A hold of a rollout of ``sources``: a closed reload window, an unfinished rollout."""
    if window is not None and (wait := window.wait(now.timestamp())) > 0:
        opens = format_time(now + timedelta(seconds=wait))
        return Verdict(
            HELD,
            WINDOW,
            f"{sources} changed, but the reload window is closed: it rolls when it opens, "
            f"at {opens}",
            held_until=opens,
        )
    if not (workload.rollout_complete or workload.paused):
        return Verdict(
            HELD,
            ROLLING,
            f"{sources} changed, but its previous rollout has not completed: the controller "
            f"waits for it (at most --flapping-max-wait={settings.safety.flap_max_wait:g}s)",
        )
    return None


def verdict(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    plan: ReloadPlan,
    settings: Settings,
    namespace_watched: bool,
    window: Window | None,
    now: datetime,
) -> Verdict:
    """What the controller does at its next reconcile, in the order it checks."""
    unwatched = _not_reconciled(
        workload=workload, kind=kind, settings=settings, namespace_watched=namespace_watched
    )
    if unwatched is not None:
        return unwatched
    if not plan.rolled:
        return _nothing_rolls(plan)
    sources = ", ".join(f"{r.source_kind.record_prefix}/{r.name}" for r in plan.rolled)
    if settings.reload.webhook_url:
        return Verdict(
            NOTIFY,
            WEBHOOK,
            f"webhook mode: the controller POSTs the change of {sources} to --webhook-url "
            "instead of rolling, then records it",
        )
    held = _held(workload=workload, sources=sources, settings=settings, window=window, now=now)
    if held is not None:
        return held
    why = (
        PlanReason.DELETED if all(r.reason == PlanReason.DELETED for r in plan.rolled) else CHANGED
    )
    return Verdict(RELOAD, why, f"the controller rolls it for {sources}")


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
    found = candidates(
        workload, sources, names=settings.names, kinds=watched_kinds(settings.reload)
    )
    plan = plan_with_settings(
        workload=workload,
        kind=kind,
        candidates=found,
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
) -> Explanation:
    """Everything ``reloader explain`` shows about one workload.

    ``sources``: the sources of the workload's namespace of the watched kinds; ``window``: its
    reload window (``workloads.admission.window_for``), ``namespace_watched``: whether the
    controller's scope includes its namespace.
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
    pending = tuple(f"{r.source_kind.record_prefix}/{r.name}" for r in plan.rolled)
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
        schedule_warnings=schedule_warnings,
    )
