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

import time
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from reloader.core.durations import format_time
from reloader.core.objects import ObjectKey, ResourceType
from reloader.errors import Conflict, Forbidden, NotFound
from reloader.kube import resources
from reloader.runtime.controller import Requeue
from reloader.runtime.queue import WorkQueue
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
from reloader.schedule.reporting import ScheduleReporter
from reloader.workloads.domain.kinds import KINDS, STRATEGIC_MERGE, WorkloadKind, enabled_kinds
from reloader.workloads.domain.rollouts import WorkloadState, rollout_progress, summarize_state
from reloader.workloads.pending_jobs import PendingJobs
from reloader.workloads.restarts import Restarter

if TYPE_CHECKING:
    from reloader.core.objects import EventType
    from reloader.kube.client import KubeClient
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.settings import Settings
    from reloader.workloads.scope import InformerSet, Scope

log = structlog.get_logger(__name__)

PODS = ResourceType("", "v1", "pods", "Pod")
CONFLICT_RETRIES = 5
#: re-read the wall clock at least this often, whatever the next due time (clock jumps)
MAX_REQUEUE = 3600.0
#: how often a restart waiting for the concurrency cap, or a rollout or stop-start in progress,
#: is looked at again (workload updates wake them sooner)
POLL = 2.0
#: a rollout not complete after this long stops counting against the concurrency cap
ROLLOUT_TIMEOUT = 600.0
#: kinds whose restart is a rollout that holds a concurrency slot until it completes
ROLLING_KINDS = frozenset({"Deployment", "DaemonSet", "StatefulSet", "Rollout"})


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
    ) -> None:
        self.client = client
        self.settings = settings.schedule
        self.metrics = metrics
        self.scope = scope
        self.names = names or ScheduleNames()
        self.queue: WorkQueue[ObjectKey] = WorkQueue()
        self.report = ScheduleReporter(metrics=metrics, recorder=recorder)
        self.restarter = Restarter(client=client, names=settings.names, pending=pending)
        #: restarts whose rollout (or stop-start) is in progress → when it started (monotonic)
        self._running: dict[ObjectKey, float] = {}
        #: restarts due but held by the concurrency cap
        self._waiting: set[ObjectKey] = set()
        self.workloads: dict[str, InformerSet[WorkloadState]] = {}
        keep = self.names.keys()
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
            self._release(key)
            self._forget_waiting(key)
            self.report.forget(key)
            return
        concerned = bool(new.annotations) or (old is not None and bool(old.annotations))
        if concerned or key in self._running:
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
        created = await self.restarter.pending.finish(key)  # a Job deleted for a restart
        if created is not None:
            self._store(KINDS[key.kind], created)
            return None
        state = inf.get(key) if inf is not None else None
        if state is None or not self.scope.namespace_allowed(key.namespace):
            self._release(key)
            return None
        kind = KINDS[key.kind]
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return await self._reconcile(key, kind, state)
            except Conflict:
                if attempt == CONFLICT_RETRIES:
                    raise
                fresh = await resources.get(
                    self.client, kind.resource, namespace=key.namespace, name=key.name
                )
                state = self._store(kind, fresh)
                log.debug("workload.conflict", attempt=attempt + 1)
            except NotFound:
                return None  # deleted meanwhile: its DELETED event cleans up
        return None  # pragma: no cover - the loop always returns or raises

    async def _reconcile(
        self, key: ObjectKey, kind: WorkloadKind, state: WorkloadState
    ) -> Requeue | None:
        names = self.names
        schedule, warnings = parse_schedule(state.annotations, kind=kind.kind, names=names)
        recorded = read_state(state.annotations, names=names)
        replicas, replica_warnings = recorded_replicas(state.annotations, names=names)
        unusable = schedule is None and names.schedule in state.annotations
        problems = (*warnings, *recorded.warnings, *replica_warnings)
        await self.report.warnings(key, state, kind, problems, unusable=unusable)
        if replicas is not None:
            return await self._stop_start(key, kind, state, replicas)
        rollout = await self._track(key, kind, state)
        if schedule is None:
            self._forget_waiting(key)
            return rollout
        now = datetime.now(UTC)
        decision = decide_schedule(
            schedule=schedule,
            state=recorded,
            now=now,
            deadline=self.settings.deadline_seconds,
            jitter=jitter_seconds(key.namespace, key.name, self.settings.jitter_seconds),
        )
        if decision.action is not Action.RESTART:
            self._forget_waiting(key)  # e.g. waited past the deadline: now a skip
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
            if not self._slot_free(key):
                if key not in self._waiting:
                    self._waiting.add(key)
                    self.metrics.scheduled_restarts_waiting.set(len(self._waiting))
                    await self.report.waiting(state, kind, self.settings.max_concurrent)
                return Requeue(after=POLL)
            assert decision.slot is not None  # noqa: S101 - a restart always names its slot
            await self._restart(key, kind, state, schedule, decision.slot, decision.late)
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
                stopped = await self._write(kind, state, patch)
                self._start_tracking(key)
                await self.report.scaled_down(stopped, kind, state.replicas)
            else:
                record = record_patch(names=self.names, restarted=slot)
                updated, job = await self.restarter.restart(
                    target=state,
                    kind=kind,
                    at=datetime.now(UTC),
                    record=record,
                    job_seed=format_time(slot),
                )
                self._store(kind, updated)
                if kind.kind in ROLLING_KINDS:
                    self._start_tracking(key)
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
        self._start_tracking(key)  # after a controller restart too: it holds a slot
        if state.replicas != 0:
            # scaled by someone else meanwhile: their count stands, the record goes
            patch = {"metadata": {"annotations": {self.names.stop_start_replicas: None}}}
            await self._write(kind, state, patch)
            await self.report.abandoned(state, kind)
            return Requeue(after=POLL)
        if not await self._pods_gone(state):
            log.debug("schedule.stop_start_waiting", replicas=replicas)
            return Requeue(after=POLL)
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
    def _slot_free(self, key: ObjectKey) -> bool:
        """Whether a restart may start now under ``--schedule-max-concurrent``."""
        cap = self.settings.max_concurrent
        if cap > 0 and key not in self._running and len(self._running) >= cap:
            return False
        self._forget_waiting(key)
        return True

    def _forget_waiting(self, key: ObjectKey) -> None:
        if key in self._waiting:
            self._waiting.discard(key)
            self.metrics.scheduled_restarts_waiting.set(len(self._waiting))

    def _start_tracking(self, key: ObjectKey) -> None:
        self._running.setdefault(key, time.monotonic())
        self.metrics.scheduled_restarts_in_progress.set(len(self._running))

    def _release(self, key: ObjectKey) -> None:
        if self._running.pop(key, None) is None:
            return
        self.metrics.scheduled_restarts_in_progress.set(len(self._running))
        for waiting in list(self._waiting):
            self.queue.add(waiting)

    async def _track(
        self, key: ObjectKey, kind: WorkloadKind, state: WorkloadState
    ) -> Requeue | None:
        """Release the slot of a restart whose rollout has completed (or taken too long)."""
        started = self._running.get(key)
        if started is None:
            return None
        progress = rollout_progress(state)
        ident = {"kind": key.kind, "namespace": key.namespace, "name": key.name}
        if progress.done or progress.failed:
            log.info("schedule.rollout_done", **ident, message=progress.message)
            self._release(key)
            return None
        waited = time.monotonic() - started
        if waited > ROLLOUT_TIMEOUT:
            await self.report.slow(state, kind, waited)
            self._release(key)
            return None
        return Requeue(after=POLL)

    # ------------------------------------------------------------------ writes
    async def _write(
        self, kind: WorkloadKind, state: WorkloadState, patch: dict[str, Any]
    ) -> WorkloadState:
        """One patch with the cached resourceVersion as precondition; the cache is updated."""
        body = dict(patch)
        body["metadata"] = {**body.get("metadata", {}), "resourceVersion": state.resource_version}
        updated = await resources.patch(
            self.client,
            kind.resource,
            namespace=state.namespace,
            name=state.name,
            body=body,
            patch_type="strategic" if kind.patch_content_type == STRATEGIC_MERGE else "merge",
        )
        return self._store(kind, updated)

    def _store(self, kind: WorkloadKind, obj: dict[str, Any]) -> WorkloadState:
        state = summarize_state(kind, obj, keep=self.names.keys())
        self.workloads[kind.kind].upsert(state)
        return state
