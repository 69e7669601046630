"""``reloader explain``'s verdict: reload, held, notify or no reload, and why, in the order the
controller checks them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from reloader.core.durations import format_time
from reloader.reload.domain.plans import PlanReason, ReloadPlan
from reloader.workloads.domain.kinds import enabled_kinds

if TYPE_CHECKING:
    from datetime import datetime

    from reloader.reload.domain.views import WorkloadView
    from reloader.settings import Settings
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.windows import Window

from reloader.commands.domain.report import (
    CHANGED,
    HELD,
    IN_SYNC,
    KIND_NOT_WATCHED,
    NAMESPACE_NOT_WATCHED,
    NO_RELOAD,
    NOT_SELECTED,
    NOTIFY,
    RECORD_ONLY,
    RELOAD,
    ROLLING,
    WEBHOOK,
    WINDOW,
    Verdict,
)


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
