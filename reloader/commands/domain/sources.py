"""``reloader explain``, per source: how the workload uses it, what the controller decides for it
and what its status is (in sync, pending, not recorded, missing, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.reload.domain.candidates import RESOURCE_NAMES, Candidates, watched_kinds
from reloader.reload.domain.decisions import (
    Decision,
    DecisionOptions,
    DecisionReason,
    decide,
    selection_source,
)
from reloader.reload.domain.plans import PlanReason, ReloadPlan
from reloader.reload.domain.stamps import parse_record

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from reloader.core.annotations import AnnotationNames
    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind

from reloader.commands.domain.report import (
    DROPPED,
    GONE,
    IN_SYNC,
    KIND_NAMES,
    MISSING,
    NOT_RECORDED,
    NOT_RELOADED,
    NOT_WATCHED,
    PENDING,
    SourceExplanation,
    Use,
)


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
