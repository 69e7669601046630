"""The reload controller: sources change → the workloads that use them roll, level-triggered.

The walk of one change: a source watch feeds its informer, which keeps a hash per source
(``sources.py``); ``handlers.py`` maps the change to workload keys and queues them;
``reconcile(key)`` reads the caches, waits out the debounce (``tracking.py``), plans
(``domain/plans.py``, pure), asks the restart pipeline (``workloads/pipeline.py``) to admit and
write, and reports (``reporting.py``). A conflict re-reads the workload and plans again.

Nothing here compares old and new events: every reconcile compares the hashes recorded on the
workload with the current ones, so a change made while the controller was down is applied once
when it starts, and a restart with no change writes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from reloader.core.objects import ObjectKey
from reloader.errors import Conflict, NotFound
from reloader.kube import resources
from reloader.observability.metrics import QueueMetricsHooks
from reloader.reload.domain.candidates import explicit_namespaces, reference_keys
from reloader.reload.domain.pauses import PauseStep, pause_state, pause_step
from reloader.reload.domain.plans import ReloadPlan, plan_with_settings
from reloader.reload.domain.views import WorkloadView, rollout_complete, summarize_workload
from reloader.reload.handlers import ReloadHandlers
from reloader.reload.reporting import Reporter
from reloader.reload.sources import Sources
from reloader.reload.tracking import CreatedSources, Debounce, RecordWrites
from reloader.reload.waves import ReloadWave, ReloadWaves, wave_record_changes
from reloader.reload.webhook import webhook_body
from reloader.runtime.clock import RealClock
from reloader.runtime.controller import Requeue
from reloader.runtime.queue import WorkQueue
from reloader.runtime.retry import on_conflict
from reloader.settings import Strategy
from reloader.workloads.admission import WriteLimiter
from reloader.workloads.domain.hooks import HookNames, hand_over_patch, read_progress
from reloader.workloads.domain.kinds import KINDS, WorkloadKind, enabled_kinds
from reloader.workloads.domain.patches import merge_patches
from reloader.workloads.domain.waves import (
    Go,
    WaveDecision,
    WaveRecord,
    judged_failed,
    record_patch,
)
from reloader.workloads.pipeline import RestartPipeline
from reloader.workloads.waves import WaveMetrics, Waves

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.observability.notify import Alerter
    from reloader.runtime.clock import Clock
    from reloader.settings import Settings
    from reloader.workloads.pending_jobs import PendingJobs
    from reloader.workloads.scope import InformerSet, Scope

HOOK_NAMES = HookNames()
#: a workload whose restart with hooks is in progress is looked at again this often
HOOKS_POLL = 5.0


class ReloadController:
    """Informers, queue and reconcile for configuration-driven reloads."""

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
        writes: WriteLimiter | None = None,
        clock: Clock | None = None,
        wave_metrics: WaveMetrics | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.scope = scope
        self.clock = clock or RealClock()
        self.queue: WorkQueue[ObjectKey] = WorkQueue(
            metrics=QueueMetricsHooks(metrics), clock=self.clock
        )
        self.report = Reporter(
            metrics=metrics,
            recorder=recorder,
            strategy=settings.reload.strategy,
            alerter=alerter,
            dry_run=settings.dry_run,
        )
        self.pipeline = self._restart_pipeline(writes=writes, pending=pending)
        self.debounce = Debounce(seconds=settings.reload.debounce_seconds, clock=self.clock)
        self.created = CreatedSources(clock=self.clock)
        self.record_writes = RecordWrites()
        self.workloads: dict[str, InformerSet[WorkloadView]] = {}
        self.handlers = ReloadHandlers(
            settings=settings,
            scope=scope,
            queue=self.queue,
            workloads=self.workloads,
            debounce=self.debounce,
            created=self.created,
            pipeline=self.pipeline,
            report=self.report,
            metrics=metrics,
            synced=self.synced,
        )
        self.sources = Sources(scope=scope, settings=settings, on_change=self.handlers.on_source)
        self._watch_workloads()  # after the sources' informers
        self.waves = Waves(
            client=client,
            names=settings.names,
            health_timeout=settings.safety.health_timeout,
            reporter=self.report,
            metrics=wave_metrics or WaveMetrics(metrics.registry),
            alerter=alerter,
            dry_run=settings.dry_run,
            clock=self.clock,
        )
        self.wave_targets = ReloadWaves(
            names=settings.names,
            canary_size=settings.safety.canary_size,
            workload=lambda key: self.workloads[key.kind].get(key),
            source=self.sources.find,
            peers_of=lambda r, ns: self.handlers.workloads_for(r.source_kind, ns, r.name),
            plan=lambda key, view: self._plan(key, view, KINDS[key.kind], self.clock.wall()),
            noted=self.waves.metrics.noted,
        )
        scope.on_namespace_change(self.handlers.on_namespace)

    def _restart_pipeline(
        self, *, writes: WriteLimiter | None, pending: PendingJobs | None
    ) -> RestartPipeline:
        """The restart pipeline, its rollout gate on the ``--max-rollouts-*`` limits."""
        safety = self.settings.safety
        return RestartPipeline.build(
            client=self.client,
            settings=self.settings,
            limits=(safety.max_rollouts, safety.max_rollouts_per_namespace),
            flap_max_wait=safety.flap_max_wait,
            writes=writes,
            pending=pending,
            on_change=self.report.gauges,
            clock=self.clock,
            # env-vars writes are idempotent: no resourceVersion precondition, no conflict with
            # status updates; annotations writes carry a new observedAt, so a stale view must fail
            precondition=self.settings.reload.strategy is Strategy.ANNOTATIONS,
        )

    def _watch_workloads(self) -> None:
        """An informer per watched workload kind, indexed by the sources it references or names."""
        for kind in reload_kinds(self.settings):
            inf = self.scope.informer(kind.resource, transform=partial(summarize_workload, kind))
            inf.add_index("references", reference_keys)
            inf.add_index("explicit", partial(explicit_namespaces, names=self.settings.names))
            inf.add_handler(self.handlers.on_workload)
            inf.add_handler(self.record_writes.on_workload)
            self.workloads[kind.kind] = inf

    def synced(self) -> bool:
        workloads = all(i.has_synced for i in self.workloads.values())
        return workloads and self.sources.synced and self.scope.synced()

    def enqueue_all(self) -> None:
        self.handlers.enqueue_all()

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, key: ObjectKey) -> Requeue | None:
        """read → plan → admit → restart → report."""
        kind = KINDS[key.kind]
        created = await self.pipeline.restarter.pending.finish(key)  # a Job deleted to recreate
        if created is not None:
            self._store(kind, created, notify=True)
            return None
        view = self.workloads[key.kind].get(key)
        if view is None or not self.scope.namespace_allowed(view.namespace):
            return None
        if (wait := self.debounce.wait(key)) > 0:
            # changes are still coming: one rollout for the burst; then ahead of first sights
            return Requeue(after=wait, urgent=True)
        self.metrics.workloads_scanned.labels(kind=key.kind).inc()
        try:
            return await on_conflict(
                partial(self._attempt, key, kind), view, partial(self._read, kind, key)
            )
        except NotFound:
            return None  # deleted meanwhile: its DELETED event cleans up

    async def _attempt(
        self, key: ObjectKey, kind: WorkloadKind, view: WorkloadView
    ) -> Requeue | None:
        now = self.clock.wall()
        if read_progress(view.annotations, HOOK_NAMES) is not None:
            # a restart with hooks in progress (docs/hooks.md): a change waits until it is over
            return Requeue(after=HOOKS_POLL)
        view, follow_after = await self._follow_wave(key, view, kind)
        plan = self._plan(key, view, kind, now)
        pause = pause_state(view=view, kind=kind, names=self.settings.names, now=now)
        webhook = bool(self.settings.reload.webhook_url)
        step = pause_step(
            pause,
            rolls=bool(plan.rolled),
            paused=view.paused,
            webhook=webhook,
            names=self.settings.names,
            now=now,
        )
        requeue = _sooner(step.requeue_after, follow_after)
        await self.report.warnings(key, view, kind, (*plan.warnings, *pause.warnings))
        self.report.skipped(plan)
        if plan.patch is None and step.patch is None:
            self.debounce.settled(key)
            return requeue
        wave = ReloadWave(WaveDecision(Go.ROLL))
        if plan.rolled and not webhook:
            wave = self.wave_targets.decide(key, view, plan)
            waits = await self.waves.hold(
                self.pipeline,
                key,
                view,
                kind,
                wave.decision,
                wave.describe(),
                partial(self.report.hold, view, kind),
            )
            if waits is not None:
                return Requeue(after=waits, urgent=True)
            hold, problems = self.pipeline.admit(
                key,
                view.annotations,
                # a paused Deployment (pause-period) accumulates changes: it is not rolling; a
                # rollout judged failed in a wave will not finish: a fix does not wait for it;
                # our own record-only write bumped a generation but started no rollout
                rollout_complete=view.rollout_complete
                or view.paused
                or judged_failed(view.annotations, self.settings.names)
                or self.record_writes.rolled_out(key, view.resource_version),
                last_change=self.debounce.last_change(key),
                now=now,
            )
            await self.report.warnings(key, view, kind, (*plan.warnings, *wave.warnings, *problems))
            if hold is not None:
                if self.pipeline.hold(key, hold.reason):
                    await self.report.hold(view, kind, hold.reason)
                return Requeue(after=hold.retry_after, urgent=True)
            if (released := self.pipeline.release(key)) is not None:
                await self.report.release(view, kind, released)
        if wave.waved:  # recorded with the rollout: the wave's state lives on the workloads
            record = WaveRecord(wave_record_changes(wave.waved), int(now))
            plan = replace(
                plan,
                patch=merge_patches(plan.patch or {}, record_patch(record, self.settings.names)),
            )
        await self._apply(key, view, kind, plan, step)
        return requeue

    async def _follow_wave(
        self, key: ObjectKey, view: WorkloadView, kind: WorkloadKind
    ) -> tuple[WorkloadView, float | None]:
        """A workload rolled in a wave: its verdict (or release) written, the other targets of
        its changes woken; the view as written, and when to look again."""
        followed = await self.waves.follow(view, kind)
        if followed.written is not None:
            view = self._store(kind, followed.written)
            self._metadata_written(key, kind, followed.written, view, only=True)
        if followed.settled:  # after the store: the wake reads the verdict from the cache
            self.handlers.wake_wave_peers(view)
        return view, followed.retry_after

    def _metadata_written(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        written: dict[str, Any],
        stored: WorkloadView,
        *,
        only: bool,
    ) -> None:
        """After our write: when ``only`` metadata changed (a record, a wave verdict), the
        generation it bumped is no rollout (domain/rollouts.py): the gate must not see one."""
        if (
            only
            and not stored.rollout_complete
            and rollout_complete(kind, written, metadata_written=True)
        ):
            self.record_writes.written(key, stored.resource_version)
        else:
            self.record_writes.forget(key)

    def _plan(
        self, key: ObjectKey, view: WorkloadView, kind: WorkloadKind, now: float
    ) -> ReloadPlan:
        return plan_with_settings(  # the plan `reloader explain` shows
            workload=view,
            kind=kind,
            candidates=self.sources.lookup(view),
            settings=self.settings,
            now_unix=int(now),
            new_sources=self.created.newer_than(key),
        )

    async def _apply(
        self,
        key: ObjectKey,
        view: WorkloadView,
        kind: WorkloadKind,
        plan: ReloadPlan,
        step: PauseStep,
    ) -> None:
        started = self.clock.monotonic()
        webhook = self.settings.reload.webhook_url
        if webhook and plan.rolled:
            body = webhook_body(view, plan)
            await self.pipeline.restarter.notify(webhook, body, view=view)  # errors retry
            await self.report.notified(view, kind, plan)
            plan = replace(plan, rolled=())  # then only record what was sent
        # a workload with restart hooks: the change is recorded with the restart's first step,
        # and the hook steps (schedule/hook_steps.py) restart it around its hooks
        hooked = hand_over_patch(view.annotations, HOOK_NAMES, [r.hash for r in plan.rolled])
        write = partial(
            self.pipeline.restarter.write,
            view=view,
            kind=kind,
            patch=plan.patch if hooked is None else merge_patches(plan.patch or {}, hooked),
            rolls=bool(plan.rolled) and hooked is None,
            job_seed=[r.hash for r in plan.rolled],
            extra=step.patch,
        )
        sent = self.clock.monotonic()
        try:
            updated = await self.pipeline.write(key, kind, write, rolls=bool(plan.rolled))
        except (Conflict, NotFound):
            raise  # a stale view (planned again) or a deleted workload: not a failure
        except Exception as exc:
            await self.report.failed(view, kind, plan, exc)
            raise
        self.debounce.wrote(self.clock.monotonic() - sent)
        stored = self._store(kind, updated)
        record_only = not plan.rolled and step.patch is None
        self._metadata_written(key, kind, updated, stored, only=record_only)
        first_change = self.debounce.settled(key)
        changed_at = started if first_change is None else first_change
        if plan.rolled:
            await self.report.reloaded(view, kind, plan, self.clock.monotonic() - changed_at)
        else:
            self.report.recorded(view, plan)
        if step.resumes:
            await self.report.resumed(view, kind)
        elif step.pauses_for is not None:
            await self.report.paused(view, kind, step.pauses_for)

    async def _read(self, kind: WorkloadKind, key: ObjectKey) -> WorkloadView:
        fresh = await resources.get(
            self.client, kind.resource, namespace=key.namespace, name=key.name
        )
        return self._store(kind, fresh, notify=True)

    def _store(
        self, kind: WorkloadKind, obj: dict[str, object], *, notify: bool = False
    ) -> WorkloadView:
        """Cache a workload as we wrote (or read) it: our own write queues no second reconcile."""
        view = summarize_workload(kind, obj)
        self.workloads[kind.kind].upsert(view, notify=notify)
        return view


def _sooner(*delays: float | None) -> Requeue | None:
    """Requeue after the shortest of the given delays (None: no requeue)."""
    given = [d for d in delays if d is not None]
    return Requeue(after=min(given)) if given else None


def reload_kinds(settings: Settings) -> list[WorkloadKind]:
    """The workload kinds to watch: all but those ignored, Rollouts only when asked for."""
    return enabled_kinds(
        ignored_workload_types=settings.reload.ignored_workload_types,
        argo_rollouts=settings.reload.argo_rollouts,
    )
