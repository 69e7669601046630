"""The reload controller: sources change → the workloads that use them roll, level-triggered.

Data path: ConfigMap/Secret watches feed informers that keep only a content hash per source;
workload watches feed informers that keep a reduced view (references, annotations, recorded
hashes). A source change maps, through the reverse index "source → workloads that reference it"
(plus the workloads whose explicit lists could name it), to workload keys; the queue holds each key
at most once, after a short debounce so that changes made together give one rollout.
``reconcile(key)`` reads only caches, asks ``domain.plan_reload`` for a plan, and writes at most one
patch, with the workload's resourceVersion as a precondition so a stale cache can cost a retry but
never a second rollout.

Nothing here compares old and new events: every reconcile compares the hashes recorded on the
workload with the current ones, so a change made while the controller was down is applied once
when it starts, and a restart with no change writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from reloader.core.annotations import SourceKind
from reloader.core.objects import EventType, ObjectKey
from reloader.errors import Conflict, NotFound
from reloader.kube import resources
from reloader.observability import notify
from reloader.observability.events import EventRecorder
from reloader.observability.metrics import Metrics, QueueMetricsHooks
from reloader.reload.domain import debounce as debounce_rules
from reloader.reload.domain.decisions import DecisionOptions
from reloader.reload.domain.pauses import pause_patch, pause_state, resume_patch
from reloader.reload.domain.plans import ReloadPlan, plan_reload
from reloader.reload.domain.views import SourceView, WorkloadView, summarize_workload
from reloader.reload.reporting import Reporter
from reloader.reload.sources import RESOURCE_NAMES, Sources, explicit_kinds
from reloader.reload.webhook import webhook_body
from reloader.runtime.controller import Requeue
from reloader.runtime.queue import WorkQueue
from reloader.workloads.admission import WINDOW, Hold, RolloutGate, WriteLimiter, window_for
from reloader.workloads.domain.kinds import KINDS, RestartMethod, WorkloadKind, enabled_kinds
from reloader.workloads.pending_jobs import PendingJobs
from reloader.workloads.restarts import Restarter
from reloader.workloads.scope import InformerSet, Scope

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.observability.notify import Alerter
    from reloader.settings import Settings

log = structlog.get_logger(__name__)

CONFLICT_RETRIES = 5

SourceRef = tuple[SourceKind, str, str]  # (kind, namespace, name)


class ReloadController:
    """Informers, indexes, queue and reconcile for configuration-driven reloads."""

    def __init__(
        self,
        *,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        recorder: EventRecorder,
        scope: Scope,
        alerter: Alerter,
        pending: PendingJobs | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.scope = scope
        self.options = DecisionOptions(
            auto_reload_all=settings.reload.auto_reload_all,
            ignored_workload_types=settings.reload.ignored_workload_types,
        )
        self.queue: WorkQueue[ObjectKey] = WorkQueue(metrics=QueueMetricsHooks(metrics))
        self.workloads: dict[str, InformerSet[WorkloadView]] = {}
        self._changed_at: dict[ObjectKey, float] = {}
        self.report = Reporter(
            metrics=metrics, recorder=recorder, strategy=settings.reload.strategy, alerter=alerter
        )
        #: --reload-on-create: namespace → {record key: when the source was created}; a source
        #: rolls a workload only if it was created after the workload was first seen
        self._created: dict[str, dict[str, float]] = {}
        self._first_seen: dict[ObjectKey, float] = {}
        self._last_change: dict[ObjectKey, float] = {}
        #: the quiet time a workload's pending change waits for (domain.debounce)
        self._quiet: dict[ObjectKey, float] = {}
        self.sources = Sources(scope=scope, settings=settings, on_change=self._on_source)
        # env-vars writes are idempotent: no resourceVersion precondition, no conflict with
        # status updates; annotations writes carry a new observedAt, so a stale view must fail
        self.restarter = Restarter(
            client=client,
            names=settings.names,
            precondition=settings.reload.strategy == "annotations",
            pending=pending,
        )
        safety = settings.safety
        self.gate = RolloutGate(
            global_limit=safety.max_rollouts,
            namespace_limit=safety.max_rollouts_per_namespace,
            timeout=safety.rollout_timeout,
            flap_max_wait=safety.flap_max_wait,
        )
        self.writes = WriteLimiter(rate=safety.writes_per_second, burst=safety.write_burst)
        for kind in reload_kinds(settings):
            kind_name = kind.kind
            inf = scope.informer(kind.resource, transform=partial(summarize_workload, kind))
            inf.add_index("references", _reference_keys)
            inf.add_index("explicit", lambda v: _explicit_namespaces(v, settings))
            inf.add_handler(self._on_workload)
            self.workloads[kind_name] = inf
        scope.on_namespace_change(self._on_namespace)

    def synced(self) -> bool:
        workloads = all(i.has_synced for i in self.workloads.values())
        return workloads and self.sources.synced and self.scope.synced()

    # ------------------------------------------------------------------ event → keys
    def _on_source(
        self, event: EventType, key: ObjectKey, old: SourceView | None, new: SourceView | None
    ) -> None:
        view = new or old
        assert view is not None  # noqa: S101 - the informer always passes one of them
        resource = RESOURCE_NAMES[view.kind]
        event_name = {EventType.ADDED: "add", EventType.DELETED: "delete"}.get(event, "update")
        self.metrics.events_received.labels(event_type=event_name, resource_type=resource).inc()
        if not self.synced():
            return  # the initial reconcile of every workload covers the initial list
        if old is not None and new is not None and old.hash == new.hash:
            self.metrics.skipped.labels(reason="no_data_change").inc()  # as Reloader counts it
            if old.annotations == new.annotations:
                return  # labels only: nothing a decision reads
            # ignore / match annotations changed: decisions may change, reconcile below
        if not self.scope.namespace_allowed(view.namespace):
            self.metrics.skipped.labels(reason="ignored_or_not_selected").inc()
            return
        record_key = view.kind.record_key(view.name)
        created = self._created.setdefault(view.namespace, {})
        if (
            event is EventType.ADDED
            and self.settings.reload.reload_on_create
            and view.kind is not SourceKind.SECRETPROVIDERCLASS  # a new pod's status, not new
        ):
            created[record_key] = time.monotonic()
        elif event is EventType.DELETED:
            created.pop(record_key, None)
        keys = self._workloads_for(view.kind, view.namespace, view.name)
        now = time.monotonic()
        debounce = self.settings.reload.debounce_seconds
        for wl_key in keys:
            previous = self._last_change.get(wl_key)
            self._quiet[wl_key] = debounce_rules.quiet_time(
                previous_change=previous, now=now, debounce=debounce
            )
            self._changed_at.setdefault(wl_key, now)
            self._last_change[wl_key] = now
            self.queue.add_after(wl_key, self._quiet[wl_key])
        self.metrics.events_processed.labels(
            event_type="unknown", resource_type=resource, result="success"
        ).inc()
        log.debug(
            "source.changed",
            source_kind=view.kind.value,
            namespace=view.namespace,
            source=view.name,
            workloads=len(keys),
        )

    def _workloads_for(self, kind: SourceKind, namespace: str, name: str) -> set[ObjectKey]:
        keys: set[ObjectKey] = set()
        for inf in self.workloads.values():
            keys.update(inf.keys_by_index("references", (kind, namespace, name)))
            keys.update(inf.keys_by_index("explicit", namespace))
        return keys

    def _on_workload(
        self, event: EventType, key: ObjectKey, old: WorkloadView | None, new: WorkloadView | None
    ) -> None:
        if new is None:
            self._changed_at.pop(key, None)
            self._first_seen.pop(key, None)
            self._last_change.pop(key, None)
            self._quiet.pop(key, None)
            self.report.forget(key)
            self._wake(self.gate.forget(key))
            return
        self._first_seen.setdefault(key, time.monotonic())
        if new.rollout_complete and (old is None or not old.rollout_complete):
            self._wake([key, *self.gate.finished(key)])
        if old is not None and _relevant(old) == _relevant(new):
            return  # status-only update (a rollout progressing): nothing to decide
        self.queue.add(key)

    def _wake(self, keys: list[ObjectKey]) -> None:
        """Rollout slots freed: look again at the workloads that were held."""
        self.metrics.rollouts_in_progress.set(len(self.gate.in_progress))
        for key in keys:
            if key in self.report.held:
                self.queue.add(key)

    def _on_namespace(self, namespace: str) -> None:
        for inf in self.workloads.values():
            for view in inf.list():
                if view.namespace == namespace:
                    self.queue.add(ObjectKey(view.kind, view.namespace, view.name))

    def enqueue_all(self) -> None:
        """Queue every known workload: the level-triggered pass after the caches are complete.

        A workload of ours (it carries the applied-hashes record) whose rollout is under way
        takes a rollout slot, as if this process had started it: after a restart the limits
        still count the rollouts the previous process started.
        """
        record = self.settings.names.applied_hashes
        for inf in self.workloads.values():
            for view in inf.list():
                key = ObjectKey(view.kind, view.namespace, view.name)
                if record in view.annotations and not (view.rollout_complete or view.paused):
                    self.gate.adopt(key)
                self.queue.add(key)
        self.metrics.rollouts_in_progress.set(len(self.gate.in_progress))

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, key: ObjectKey) -> Requeue | None:
        inf = self.workloads[key.kind]
        created = await self.restarter.pending.finish(key)  # a Job deleted for a recreate
        if created is not None:
            inf.upsert(summarize_workload(KINDS[key.kind], created))
            return None
        view = inf.get(key)
        if view is None:
            return None
        kind = KINDS[key.kind]
        self.metrics.workloads_scanned.labels(kind=key.kind).inc()
        if not self.scope.namespace_allowed(view.namespace):
            return None
        if (wait := self._debounce_wait(key)) > 0:
            return Requeue(after=wait)  # changes are still coming: one rollout for the burst
        webhook_mode = bool(self.settings.reload.webhook_url)
        for attempt in range(CONFLICT_RETRIES + 1):
            now = time.time()
            plan = self._plan(view, kind, now)
            pause = pause_state(view=view, kind=kind, names=self.settings.names, now=now)
            await self.report.warnings(key, view, kind, (*plan.warnings, *pause.warnings))
            self.report.skipped(plan)
            extra: dict[str, Any] | None = None
            requeue: Requeue | None = None
            if pause.resume:
                extra = resume_patch(names=self.settings.names)
            elif plan.rolled and pause.period and not view.paused and not webhook_mode:
                extra = pause_patch(names=self.settings.names, now=now)
                requeue = Requeue(after=pause.period)
            elif pause.wait is not None:
                requeue = Requeue(after=pause.wait)
            if plan.patch is None and extra is None:
                self._changed_at.pop(key, None)
                return requeue
            if plan.rolled and not webhook_mode:
                hold, problems = self._hold(view, kind, now)
                await self.report.warnings(key, view, kind, (*plan.warnings, *problems))
                if hold is not None:
                    await self.report.hold(key, view, kind, hold)
                    return Requeue(after=hold.retry_after)
                await self.report.release(key, view, kind)
            try:
                await self._apply(view, kind, plan, extra)
            except Conflict:
                if attempt == CONFLICT_RETRIES:
                    raise
                fresh = await resources.get(
                    self.client, kind.resource, namespace=key.namespace, name=key.name
                )
                view = summarize_workload(kind, fresh)
                inf.upsert(view)
                log.debug("workload.conflict", attempt=attempt + 1)
                continue
            except NotFound:
                return None  # deleted meanwhile: its DELETED event cleans up
            if pause.resume:
                await self.report.resumed(view, kind)
            elif extra is not None and pause.period is not None:
                await self.report.paused(view, kind, pause.period)
            return requeue
        return None  # pragma: no cover - the loop always returns or raises

    def _debounce_wait(self, key: ObjectKey) -> float:
        last, first = self._last_change.get(key), self._changed_at.get(key)
        if last is None or first is None:
            return 0.0
        debounce = self.settings.reload.debounce_seconds
        return debounce_rules.wait(
            first_change=first,
            last_change=last,
            quiet=self._quiet.get(key, debounce),
            now=time.monotonic(),
            debounce=debounce,
        )

    def _hold(
        self, view: WorkloadView, kind: WorkloadKind, now: float
    ) -> tuple[Hold | None, tuple[str, ...]]:
        """Whether a rollout must wait: outside its window, still rolling, or no slot free."""
        safety = self.settings.safety
        window, problems = window_for(
            view.annotations,
            names=self.settings.names,
            default=safety.window,
            default_timezone=safety.window_timezone,
        )
        if window is not None and (wait := window.wait(now)) > 0:
            return Hold(WINDOW, min(wait, 300.0)), problems
        key = ObjectKey(view.kind, view.namespace, view.name)
        # a paused Deployment (pause-period) accumulates changes: it is not rolling
        complete = view.rollout_complete or view.paused
        last = self._last_change.get(key)
        return self.gate.check(key, rollout_complete=complete, last_change=last), problems

    def _plan(self, view: WorkloadView, kind: WorkloadKind, now: float) -> ReloadPlan:
        return plan_reload(
            workload=view,
            kind=kind,
            sources=self.sources.candidates(view),
            strategy=self.settings.reload.strategy,
            names=self.settings.names,
            options=self.options,
            now_unix=int(now),
            new_sources=self._new_sources(view),
            missing_sources=self.sources.deleted(view),
            delete_strategy=self.settings.reload.reload_on_delete,
        )

    def _new_sources(self, view: WorkloadView) -> frozenset[str]:
        """Sources created after this workload was first seen (--reload-on-create)."""
        first_seen = self._first_seen.get(ObjectKey(view.kind, view.namespace, view.name))
        created = self._created.get(view.namespace, {})
        if first_seen is None or not created:
            return frozenset()
        return frozenset(k for k, at in created.items() if at > first_seen)

    async def _apply(
        self,
        view: WorkloadView,
        kind: WorkloadKind,
        plan: ReloadPlan,
        extra: dict[str, Any] | None = None,
    ) -> None:
        started = time.monotonic()
        key = ObjectKey(view.kind, view.namespace, view.name)
        webhook = self.settings.reload.webhook_url
        if webhook and plan.rolled:
            await notify.post(webhook, webhook_body(view, plan))  # the action; errors retry
            await self.report.notified(view, kind, plan)
            plan = replace(plan, rolled=())  # then only record what was sent
        await self.writes.acquire()
        try:
            updated = await self.restarter.write(
                view=view,
                kind=kind,
                patch=plan.patch,
                rolls=bool(plan.rolled),
                job_seed=[r.hash for r in plan.rolled],
                extra=extra,
            )
        except (Conflict, NotFound):
            self.gate.release(key)
            raise
        except Exception as exc:
            self.gate.release(key)
            await self.report.failed(view, kind, plan, exc)
            raise
        self.workloads[view.kind].upsert(summarize_workload(kind, updated))
        changed_at = self._changed_at.pop(key, started)
        if plan.rolled:
            if kind.restart not in (RestartMethod.TEMPLATE_PATCH, RestartMethod.RESTART_AT):
                self.gate.release(key)  # a Job: nothing rolls out afterwards
            self.metrics.rollouts_in_progress.set(len(self.gate.in_progress))
            await self.report.reloaded(view, kind, plan, time.monotonic() - changed_at)
        else:
            log.debug(
                "workload.recorded",
                kind=view.kind,
                namespace=view.namespace,
                name=view.name,
                adopted=list(plan.adopted),
            )


def reload_kinds(settings: Settings) -> list[WorkloadKind]:
    """The workload kinds to watch: all but those ignored, Rollouts only when asked for."""
    return enabled_kinds(
        ignored_workload_types=settings.reload.ignored_workload_types,
        argo_rollouts=settings.reload.argo_rollouts,
    )


def _reference_keys(view: WorkloadView) -> Iterable[SourceRef]:
    return {(r.source_kind, view.namespace, r.name) for r in view.references}


def _explicit_namespaces(view: WorkloadView, settings: Settings) -> Iterable[str]:
    return (view.namespace,) if any(True for _ in explicit_kinds(view, settings)) else ()


def _relevant(view: WorkloadView) -> tuple[object, ...]:
    """What a reload decision reads from a workload (not its status or resourceVersion)."""
    return (
        view.annotations,
        view.template_annotations,
        view.references,
        view.containers,
        view.stakater_env,
        view.targets,
    )
