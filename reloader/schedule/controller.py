"""The schedule controller: restarts workloads on the cron schedule their annotations give.

Keyed by workload, like the reload controller, with its own informers (through the same
:class:`Scope`) that keep a :class:`WorkloadState` per workload: identity, the schedule
annotations, replicas, selector and rollout status; nothing else. ``reconcile(key)`` reads the
cache, asks ``domain.schedules.decide_schedule`` what is due at the current time, writes at most
one change, and returns ``Requeue(after=…)`` for the next due time, so an idle schedule costs a
timer, not a poll.

All state is on the workload (``last-scheduled-restart``, ``restart-schedule-baseline``,
``stop-start-replicas``), so a restart of the controller neither repeats a restart nor loses a
stop-start half done: the next reconcile sees the record and finishes. The concurrency cap
(``--schedule-max-concurrent``) is the only state in memory: the scheduled restarts whose rollout
has not completed. After a controller restart, a stop-start in progress counts again at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from reloader.core.durations import format_time
from reloader.core.objects import PODS, ObjectKey
from reloader.errors import Conflict, Forbidden, NotFound
from reloader.kube import resources
from reloader.observability.metrics import QueueMetricsHooks
from reloader.runtime.clock import RealClock
from reloader.runtime.controller import Requeue
from reloader.runtime.queue import WorkQueue
from reloader.runtime.retry import on_conflict
from reloader.schedule.domain.patches import (
    record_patch,
    recorded_replicas,
    scale_down_patch,
    scale_up_patch,
)
from reloader.schedule.domain.schedules import (
    Action,
    RestartStyle,
    Schedule,
    ScheduleNames,
    decide_schedule,
    jitter_seconds,
    parse_schedule,
    read_state,
)
from reloader.schedule.hook_steps import HookSteps
from reloader.schedule.reporting import ScheduleReporter
from reloader.workloads.admission import WriteLimiter
from reloader.workloads.domain.hooks import HookNames, blocking_problem, parse_hooks, read_progress
from reloader.workloads.domain.kinds import KINDS, WorkloadKind, enabled_kinds
from reloader.workloads.domain.rollouts import WorkloadState, rollout_progress, summarize_state
from reloader.workloads.pipeline import RestartPipeline
from reloader.workloads.reporting import ident

if TYPE_CHECKING:
    from reloader.core.objects import EventType
    from reloader.kube.client import KubeClient
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.runtime.clock import Clock
    from reloader.settings import Settings
    from reloader.workloads.pending_jobs import PendingJobs
    from reloader.workloads.scope import InformerSet, Scope

log = structlog.get_logger(__name__)

#: re-read the wall clock at least this often, whatever the next due time (clock jumps)
MAX_REQUEUE = 3600.0
#: how often a restart waiting for the concurrency cap, or a rollout or stop-start in progress,
#: is looked at again (workload updates wake them sooner)
POLL = 2.0


class ScheduleController:
    """Informers, queue and reconcile for scheduled restarts."""

    def __init__(
        self,
        *,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        recorder: EventRecorder,
        scope: Scope,
        names: ScheduleNames | None = None,
        pending: PendingJobs | None = None,
        writes: WriteLimiter | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.settings = settings.schedule
        self.metrics = metrics
        self.scope = scope
        self.names = names or ScheduleNames()
        self.clock = clock or RealClock()
        self.queue: WorkQueue[ObjectKey] = WorkQueue(
            metrics=QueueMetricsHooks(metrics, schedule=True), clock=self.clock
        )
        self.report = ScheduleReporter(metrics=metrics, recorder=recorder, dry_run=settings.dry_run)
        self.pipeline = RestartPipeline.build(
            client=client,
            settings=settings,
            # --schedule-max-concurrent: a scheduled restart holds a slot until its rollout (or
            # stop-start) completes, or --rollout-timeout
            limits=(self.settings.max_concurrent, 0),
            flap_max_wait=0.0,
            writes=writes,
            pending=pending,
            on_change=self.report.gauges,
            clock=self.clock,
        )
        self.hook_names = HookNames()
        self.hooks = HookSteps(self, self.hook_names)
        self.workloads: dict[str, InformerSet[WorkloadState]] = {}
        keep = self._keep = self.names.keys() | self.hook_names.keys()
        for kind in enabled_kinds(
            ignored_workload_types=settings.reload.ignored_workload_types,
            argo_rollouts=settings.reload.argo_rollouts,
        ):
            inf = scope.informer(kind.resource, transform=partial(summarize_state, kind, keep=keep))
            inf.add_handler(self._on_workload)
            self.workloads[kind.kind] = inf

    def synced(self) -> bool:
        return all(i.has_synced for i in self.workloads.values())

    def _on_workload(
        self,
        event: EventType,
        key: ObjectKey,
        old: WorkloadState | None,
        new: WorkloadState | None,
    ) -> None:
        if new is None:
            self._wake(self.pipeline.forget(key))
            self.report.forget(key)
            return
        concerned = bool(new.annotations) or (old is not None and bool(old.annotations))
        if concerned or key in self.pipeline.gate.in_progress:
            self.queue.add(key)

    def enqueue_all(self) -> None:
        """Queue every workload with a schedule or a stop-start record (after the caches sync)."""
        for inf in self.workloads.values():
            for state in inf.list():
                if state.annotations:
                    self.queue.add(ObjectKey(state.kind, state.namespace, state.name))

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, key: ObjectKey) -> Requeue | None:
        inf = self.workloads.get(key.kind)
        created = await self.pipeline.restarter.pending.finish(key)  # a Job deleted to restart
        if created is not None:
            self._store(KINDS[key.kind], created, notify=True)
            return None
        state = inf.get(key) if inf is not None else None
        if state is None or not self.scope.namespace_allowed(key.namespace):
            self._wake(self.pipeline.finished(key))
            return None
        kind = KINDS[key.kind]
        try:
            return await on_conflict(
                partial(self._reconcile, key, kind), state, partial(self._read, kind, key)
            )
        except NotFound:
            return None  # deleted meanwhile: its DELETED event cleans up

    async def _read(self, kind: WorkloadKind, key: ObjectKey) -> WorkloadState:
        fresh = await resources.get(
            self.client, kind.resource, namespace=key.namespace, name=key.name
        )
        return self._store(kind, fresh, notify=True)

    async def _reconcile(
        self, key: ObjectKey, kind: WorkloadKind, state: WorkloadState
    ) -> Requeue | None:
        names = self.names
        schedule, warnings = parse_schedule(state.annotations, kind=kind.kind, names=names)
        recorded = read_state(state.annotations, names=names)
        replicas, replica_warnings = recorded_replicas(state.annotations, names=names)
        unusable = schedule is None and names.schedule in state.annotations
        stop_start = schedule is not None and schedule.method is RestartStyle.STOP_START
        hooks, hook_warnings = parse_hooks(
            state.annotations, names=self.hook_names, stop_start=stop_start
        )
        problems = (*warnings, *recorded.warnings, *replica_warnings, *hook_warnings)
        await self.report.warnings(key, state, kind, problems, unusable=unusable)
        progress = read_progress(state.annotations, self.hook_names)
        if progress is not None:
            return await self.hooks.advance(
                key, kind, state, progress, hooks, stop_start=stop_start
            )
        if replicas is not None:
            return await self._stop_start(key, kind, state, replicas)
        rollout = await self._track(key, kind, state)
        if schedule is None:
            self.pipeline.release(key)
            return rollout
        now = datetime.fromtimestamp(self.clock.wall(), UTC)
        decision = decide_schedule(
            schedule=schedule,
            state=recorded,
            now=now,
            deadline=self.settings.deadline_seconds,
            jitter=jitter_seconds(key.namespace, key.name, self.settings.jitter_seconds),
        )
        if decision.action is not Action.RESTART:
            self.pipeline.release(key)  # e.g. waited past the deadline: now a skip
        if decision.action is Action.ADOPT:
            await self._write(kind, state, record_patch(names=names, baseline=now))
            await self.report.adopted(state, kind, schedule, decision.due)
        elif decision.action is Action.SKIP:
            assert decision.slot is not None  # noqa: S101 - a skip always names its slot
            await self._write(kind, state, record_patch(names=names, baseline=decision.slot))
            limit = schedule.deadline or self.settings.deadline_seconds
            await self.report.skipped(
                state, kind, schedule, slot=decision.slot, late=decision.late, deadline=limit
            )
        elif decision.action is Action.RESTART:
            hold, _ = self.pipeline.admit(
                key, state.annotations, rollout_complete=True, now=now.timestamp(), windows=False
            )
            if hold is not None:
                if self.pipeline.hold(key, hold.reason):
                    await self.report.waiting(state, kind, self.settings.max_concurrent)
                return Requeue(after=POLL)
            self.pipeline.release(key)
            assert decision.slot is not None  # noqa: S101 - a restart always names its slot
            if blocking_problem(state.annotations, self.hook_names):
                return Requeue(after=MAX_REQUEUE)  # reported above; an edit queues it again
            if hooks.any:
                requeue = await self.hooks.begin(
                    key,
                    kind,
                    state,
                    hooks,
                    restart=format_time(decision.slot),
                    slot_record=record_patch(names=names, restarted=decision.slot),
                )
                await self.report.restarted(
                    state, kind, schedule, slot=decision.slot, late=decision.late
                )
                return requeue
            await self._restart(key, kind, state, schedule, decision.slot, decision.late)
            if key in self.pipeline.gate.in_progress:
                rollout = Requeue(after=POLL)  # follow the rollout that now holds a slot
        if decision.due is None:
            return rollout
        wait = min(max((decision.due - now).total_seconds(), 0.05), MAX_REQUEUE)
        return Requeue(after=min(wait, rollout.after if rollout else wait))

    async def _restart(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        state: WorkloadState,
        schedule: Schedule,
        slot: datetime,
        late: float,
    ) -> None:
        job: str | None = None
        try:
            if schedule.method is RestartStyle.STOP_START and (state.replicas or 0) > 0:
                assert state.replicas is not None  # noqa: S101 - a stop-start kind
                patch = scale_down_patch(names=self.names, replicas=state.replicas, slot=slot)
                stop = partial(self.pipeline.restarter.patch, state, kind, patch, restarts=True)
                stopped = self._store(kind, await self.pipeline.write(key, kind, stop, rolls=True))
                await self.report.scaled_down(stopped, kind, state.replicas)
            else:
                restart = partial(
                    self.pipeline.restarter.restart,
                    target=state,
                    kind=kind,
                    at=datetime.fromtimestamp(self.clock.wall(), UTC),
                    record=record_patch(names=self.names, restarted=slot),
                    job_seed=format_time(slot),
                )
                updated, job = await self.pipeline.write(key, kind, restart, rolls=True)
                self._store(kind, updated)
        except (Conflict, NotFound):
            raise
        except Exception as exc:
            await self.report.failed(state, kind, schedule, exc)
            raise
        await self.report.restarted(state, kind, schedule, slot=slot, late=late, job=job)

    async def _stop_start(
        self, key: ObjectKey, kind: WorkloadKind, state: WorkloadState, replicas: int
    ) -> Requeue | None:
        """Finish a stop-start: once the pods are gone, scale back to the recorded count."""
        self.pipeline.adopt(key)  # after a controller restart too: it holds a slot
        if state.replicas != 0:
            # scaled by someone else meanwhile: their count stands, the record goes
            patch = {"metadata": {"annotations": {self.names.stop_start_replicas: None}}}
            await self._write(kind, state, patch)
            await self.report.abandoned(state, kind)
            return Requeue(after=POLL)
        if not await self._pods_gone(state):
            log.debug("schedule.stop_start_waiting", replicas=replicas)
            return Requeue(after=POLL)
        return await self._scale_up(kind, state, replicas)

    async def _scale_up(self, kind: WorkloadKind, state: WorkloadState, replicas: int) -> Requeue:
        """Start: scale back to the recorded count and drop the record (one write); report."""
        started = await self._write(
            kind, state, scale_up_patch(names=self.names, replicas=replicas)
        )
        await self.report.scaled_up(started, kind, replicas)
        return Requeue(after=POLL)

    async def _pods_gone(self, state: WorkloadState) -> bool:
        if int(state.status.get("replicas", 0) or 0) > 0:
            return False
        if state.selector is None:
            return True
        try:
            page = await resources.list_page(
                self.client, PODS, namespace=state.namespace, label_selector=state.selector, limit=1
            )
        except Forbidden:
            # without RBAC for pods, the status (which omits Terminating pods) has to do: a
            # workload must never stay at zero for want of a permission
            log.warning("schedule.pods_list_forbidden", namespace=state.namespace)
            return True
        return not page.get("items")

    # ------------------------------------------------------------------ concurrency cap
    def _wake(self, keys: list[ObjectKey]) -> None:
        """Slots freed: look again at the restarts that wait for one."""
        for key in keys:
            self.queue.add(key)

    async def _track(
        self, key: ObjectKey, kind: WorkloadKind, state: WorkloadState
    ) -> Requeue | None:
        """Free the slot of a restart whose rollout has completed (or taken too long)."""
        gate = self.pipeline.gate
        running = gate.running_for(key)
        if key in gate.expired:  # past --rollout-timeout: it no longer counts
            gate.expired.discard(key)
            await self.report.slow(state, kind, gate.timeout)
            self._wake(self.pipeline.finished(key))
            return None
        if running is None:
            return None
        progress = rollout_progress(state)
        if progress.done or progress.failed:
            log.info("schedule.rollout_done", **ident(state), message=progress.message)
            self._wake(self.pipeline.finished(key))
            return None
        return Requeue(after=POLL)

    # ------------------------------------------------------------------ writes
    async def _write(
        self, kind: WorkloadKind, state: WorkloadState, patch: dict[str, Any]
    ) -> WorkloadState:
        """One patch (a record, a scale-up) with the cached resourceVersion as precondition, under
        the write-rate limit; the cache is updated."""
        await self.pipeline.writes.acquire()
        return self._store(kind, await self.pipeline.restarter.patch(state, kind, patch))

    def _store(
        self, kind: WorkloadKind, obj: dict[str, Any], *, notify: bool = False
    ) -> WorkloadState:
        """Cache a workload as we wrote (or read) it: our own write queues no second reconcile."""
        state = summarize_state(kind, obj, keep=self._keep)
        self.workloads[kind.kind].upsert(state, notify=notify)
        return state
