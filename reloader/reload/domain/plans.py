"""The level-triggered core: from a workload and its sources' current hashes, one plan.

Reloader is edge-triggered: it compares the old and new version of a changed source, so a change
made while it is down is lost, and a restart with ``--reload-on-create`` rolls everything again.
Here a workload is reconciled as a whole: its metadata carries a *record* of the
source hashes last applied to it (annotation ``reloader.stakater.com/applied-hashes``, a compact
JSON object ``{"configmap/app": "<sha1>", …}``; writing it does not roll pods), and a plan compares
the record with the current hashes:

- neither a recorded hash nor a marker → *adopt*: record the current hash, no rollout. The first
  time a workload is seen, nothing rolls. The *marker* is what Reloader stamped on the pod
  template (a ``STAKATER_*`` env var, or the hash in ``last-reloaded-from``), so a workload that
  Reloader managed is migrated, and a change made between Reloader's last run and ours is
  still applied;
- the current hash is recorded, or already stamped on the template → in sync, nothing rolls
  (re-stamping the same env var would change nothing, like Reloader's "NotUpdated");
- otherwise → *roll*.

All sources that roll together go into **one** patch (one rollout per burst), and the record is
rewritten to exactly the selected sources, so entries of sources no longer selected disappear.
The plan is a pure function of its inputs: same inputs, same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind, annotation_warning
from reloader.reload.domain.candidates import candidates, watched_kinds
from reloader.reload.domain.decisions import DecisionOptions, DecisionReason, decide
from reloader.reload.domain.filters import filtered_hash, parse_key_filter
from reloader.reload.domain.hashing import DELETE_MARKER_HASH
from reloader.reload.domain.stamps import parse_record, serialize_record, stamped_hash
from reloader.settings import Strategy
from reloader.workloads.domain.patches import (
    env_patch,
    env_var_name,
    last_reloaded_from_value,
    merge_patches,
    metadata_annotations_patch,
    template_annotations_patch,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from collections.abc import Set as AbstractSet

    from reloader.core.annotations import AnnotationNames
    from reloader.reload.domain.candidates import Candidates
    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.patches import Patch


class PlanReason(StrEnum):
    """Why a source rolls or is skipped, besides its decision's reason."""

    #: a recorded source was deleted: the delete strategy rolls it (``--reload-on-delete``)
    DELETED = "deleted"
    #: selected, but no container to stamp (an auto selection of an unreferenced source)
    NO_CONTAINER = "no-container"
    #: a source of another namespace (never one of the workload's)
    OTHER_NAMESPACE = "other-namespace"


#: why a source rolls (a decision's reason, or DELETED) or is skipped
Reason = DecisionReason | PlanReason


@dataclass(frozen=True, slots=True)
class RolledSource:
    """A source whose change this plan rolls out."""

    source_kind: SourceKind
    name: str
    hash: str
    container: str
    #: the decision's reason (explicit, search, auto, auto-all), or PlanReason.DELETED
    reason: Reason


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """What to write to one workload; ``patch`` None means nothing to write."""

    #: one strategic merge patch, nested at the kind's template path (record in metadata)
    patch: Patch | None
    rolled: tuple[RolledSource, ...] = ()
    #: record keys (``configmap/name``) whose current hash was recorded without a rollout
    adopted: tuple[str, ...] = ()
    #: candidate sources that do not act, with why (a decision reason, or no-container)
    skipped: tuple[tuple[SourceView, Reason], ...] = ()
    warnings: tuple[str, ...] = ()
    #: the record after the patch: record key → hash
    record: Mapping[str, str] = field(default_factory=dict)


def _deleted(
    *, workload: WorkloadView, keys: AbstractSet[str], strategy: Strategy
) -> list[RolledSource]:
    """Recorded sources that were deleted: what the delete strategy rolls."""
    out = []
    for key in sorted(keys):
        parsed = SourceKind.of_record_key(key)
        if parsed is None:
            continue
        source_kind, name = parsed
        if strategy == Strategy.ENV_VARS:
            env_name = env_var_name(source_kind, name)
            holders = [
                c for c in workload.containers if env_name in workload.stakater_env.get(c, {})
            ]
            if not holders:
                continue  # nothing stamped: nothing to remove (Reloader does nothing either)
            container = holders[0]
        else:
            container = workload.targets.get((source_kind, name)) or (
                workload.containers[0] if workload.containers else ""
            )
            if not container:
                continue
        out.append(
            RolledSource(source_kind, name, DELETE_MARKER_HASH, container, PlanReason.DELETED)
        )
    return out


def _dedupe(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What every candidate source of one plan is judged against."""

    workload: WorkloadView
    kind: WorkloadKind
    strategy: Strategy
    names: AnnotationNames
    options: DecisionOptions
    #: the record stored on the workload: record key → hash
    stored: Mapping[str, str]
    #: ``reload-keys``: record key → the keys whose change rolls
    key_filters: Mapping[str, frozenset[str]]
    new_sources: frozenset[str]


@dataclass(slots=True)
class _Tally:
    """What the plan collects, source by source in (kind, name) order."""

    warnings: list[str]
    skipped: list[tuple[SourceView, Reason]] = field(default_factory=list)
    rolled: list[RolledSource] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    record: dict[str, str] = field(default_factory=dict)


def _key_filters(
    workload: WorkloadView, names: AnnotationNames
) -> tuple[dict[str, frozenset[str]], tuple[str, ...]]:
    """The workload's ``reload-keys`` filters and warnings; an invalid annotation is ignored."""
    if (raw_filter := workload.annotations.get(names.reload_keys)) is None:
        return {}, ()
    try:
        return parse_key_filter(raw_filter), ()
    except ValueError as exc:
        return {}, (annotation_warning(names.reload_keys, f"{exc}: ignored"),)


def _in_order(sources: Sequence[SourceView]) -> list[SourceView]:
    """One source per (kind, name), the first given, in (kind, name) order."""
    unique: dict[tuple[SourceKind, str], SourceView] = {}
    for src in sources:
        unique.setdefault((src.kind, src.name), src)
    return [source for _key, source in sorted(unique.items(), key=lambda item: item[0])]


def _target(workload: WorkloadView, source: SourceView, *, auto: bool) -> str | None:
    """The container to stamp: the one referencing the source; else, unless the source was
    selected by auto, the first container."""
    container = workload.targets.get((source.kind, source.name))
    if container is None and not auto and workload.containers:
        container = workload.containers[0]
    return container


def _plan_source(inputs: _Inputs, tally: _Tally, source: SourceView) -> None:
    """Skip ``source``, or compare it with its baselines if its decision selects it."""
    workload = inputs.workload
    if source.namespace != workload.namespace:
        tally.skipped.append((source, PlanReason.OTHER_NAMESPACE))
        return
    decision = decide(
        source=source,
        workload=workload,
        kind=inputs.kind,
        names=inputs.names,
        options=inputs.options,
    )
    tally.warnings.extend(decision.warnings)
    if not decision.reload:
        tally.skipped.append((source, decision.reason))
        return
    container = _target(workload, source, auto=decision.auto)
    if container is None:
        tally.skipped.append((source, PlanReason.NO_CONTAINER))
        return
    _compare(inputs, tally, source, container=container, reason=decision.reason)


def _baselines(
    inputs: _Inputs, source: SourceView, *, recorded: str | None, container: str, filtered: bool
) -> tuple[str | None, str | None]:
    """The recorded and the stamped hash a selected source's current hash is compared with."""
    if recorded is not None and recorded.startswith("keys:") != filtered:
        return None, None  # a key filter was added or removed: take a new baseline
    if filtered:
        return recorded, None  # the env var / annotation holds the full hash, not the keys' digest
    stamped = stamped_hash(
        workload=inputs.workload,
        source=source,
        container=container,
        strategy=inputs.strategy,
        names=inputs.names,
    )
    return recorded, stamped


def _compare(
    inputs: _Inputs, tally: _Tally, source: SourceView, *, container: str, reason: Reason
) -> None:
    """Record a selected source's current hash; adopt it without a baseline, roll it if changed."""
    key = source.kind.record_key(source.name)
    keys = inputs.key_filters.get(key)
    current = filtered_hash(source.key_hashes, keys) if keys else source.hash
    tally.record[key] = current
    recorded, stamped = _baselines(
        inputs, source, recorded=inputs.stored.get(key), container=container, filtered=bool(keys)
    )
    if recorded is None and stamped is None and (keys or key not in inputs.new_sources):
        tally.adopted.append(key)
    elif current not in (recorded, stamped):
        tally.rolled.append(RolledSource(source.kind, source.name, source.hash, container, reason))


def _plan_patch(
    inputs: _Inputs, tally: _Tally, *, stored_raw: str | None, now_unix: int
) -> Patch | None:
    """The rollout of the rolled sources with the new record, the new record alone, or None."""
    desired_raw = serialize_record(tally.record) if tally.record else None
    if tally.rolled:
        return merge_patches(
            _rollout_patch(
                workload=inputs.workload,
                kind=inputs.kind,
                rolled=tally.rolled,
                strategy=inputs.strategy,
                names=inputs.names,
                now_unix=now_unix,
            ),
            metadata_annotations_patch({inputs.names.applied_hashes: desired_raw}),
        )
    if desired_raw != stored_raw:
        return metadata_annotations_patch({inputs.names.applied_hashes: desired_raw})
    return None


def plan_reload(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    sources: Sequence[SourceView],
    strategy: Strategy,
    names: AnnotationNames,
    options: DecisionOptions,
    now_unix: int,
    new_sources: frozenset[str] = frozenset(),
    missing_sources: frozenset[str] = frozenset(),
    delete_strategy: bool = False,
) -> ReloadPlan:
    """The plan for one workload given the current view of its candidate sources.

    ``new_sources`` (``--reload-on-create``): record keys of sources created while the controller
    was watching; without a baseline they roll instead of being adopted. ``missing_sources``:
    record keys of sources that no longer exist. Their record entries are kept, so a source
    deleted and created again with other content rolls the workload; with ``delete_strategy``
    (``--reload-on-delete``) a recorded one instead gets Reloader's delete strategy: its env
    var removed, or ``last-reloaded-from`` written with the delete marker hash.

    ``sources`` are the sources of the workload's namespace that may concern it (referenced, or
    possibly named by an explicit list); at most one per (kind, name): a duplicate is ignored.
    They are processed in (kind, name) order, so the caller's order does not matter.
    """
    stored_raw = workload.annotations.get(names.applied_hashes)
    stored, record_warnings = parse_record(stored_raw, key=names.applied_hashes)
    key_filters, filter_warnings = _key_filters(workload, names)
    inputs = _Inputs(
        workload=workload,
        kind=kind,
        strategy=strategy,
        names=names,
        options=options,
        stored=stored,
        key_filters=key_filters,
        new_sources=new_sources,
    )
    tally = _Tally(warnings=[*record_warnings, *filter_warnings])
    for source in _in_order(sources):
        _plan_source(inputs, tally, source)
    gone = missing_sources & stored.keys() - tally.record.keys()
    if delete_strategy:
        tally.rolled.extend(_deleted(workload=workload, keys=gone, strategy=strategy))
    else:
        tally.record.update({k: stored[k] for k in gone})
    return ReloadPlan(
        patch=_plan_patch(inputs, tally, stored_raw=stored_raw, now_unix=now_unix),
        rolled=tuple(tally.rolled),
        adopted=tuple(tally.adopted),
        skipped=tuple(tally.skipped),
        warnings=_dedupe(tally.warnings),
        record=tally.record,
    )


def plan_with_settings(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    candidates: Candidates,
    settings: Settings,
    now_unix: int,
    new_sources: frozenset[str] = frozenset(),
) -> ReloadPlan:
    """:func:`plan_reload` with what the run's flags decide (strategy, annotation names,
    ``--auto-reload-all``, ``--ignored-workload-types``, ``--reload-on-delete``) and the
    ``domain.candidates`` of the workload: the controller's plan, and ``reloader explain``'s.

    ``new_sources`` (``--reload-on-create``) is what only a running controller knows: the sources
    it saw created after it first saw the workload.
    """
    reload = settings.reload
    return plan_reload(
        workload=workload,
        kind=kind,
        sources=candidates.sources,
        strategy=reload.strategy,
        names=settings.names,
        options=DecisionOptions.of(reload),
        now_unix=now_unix,
        new_sources=new_sources if reload.reload_on_create else frozenset(),
        missing_sources=candidates.missing,
        delete_strategy=reload.reload_on_delete,
    )


def plan_over_list(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    sources: Sequence[SourceView],
    settings: Settings,
    now_unix: int,
) -> tuple[Candidates, ReloadPlan]:
    """The candidates and the plan of ``workload`` over ``sources`` as one LIST returns them
    (``reloader explain``: no informer caches, no sources seen created since start)."""
    found = candidates(
        workload, sources, names=settings.names, kinds=watched_kinds(settings.reload)
    )
    plan = plan_with_settings(
        workload=workload, kind=kind, candidates=found, settings=settings, now_unix=now_unix
    )
    return found, plan


def _rollout_patch(
    *,
    workload: WorkloadView,
    kind: WorkloadKind,
    rolled: list[RolledSource],
    strategy: Strategy,
    names: AnnotationNames,
    now_unix: int,
) -> Patch:
    """The pod-template change that rolls the workload for all ``rolled`` sources at once."""
    if strategy == Strategy.ENV_VARS:
        env: dict[str, dict[str, str | None]] = {}
        for r in rolled:
            value = None if r.reason is PlanReason.DELETED else r.hash
            env.setdefault(r.container, {})[env_var_name(r.source_kind, r.name)] = value
        return env_patch(kind, env)
    latest = rolled[-1]  # Reloader records only the latest trigger: the last in (kind, name) order
    value = last_reloaded_from_value(
        source_kind=latest.source_kind,
        name=latest.name,
        namespace=workload.namespace,
        hash=latest.hash,
        container=latest.container,
        observed_at=now_unix,
    )
    return template_annotations_patch(kind, {names.last_reloaded_from: value})
