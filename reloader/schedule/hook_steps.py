"""A scheduled restart with hooks, one step per reconcile (``workloads/domain/hooks.py``).

::

    before ─hook ok─▶ ready ─restart─▶ restarting ─rollout done─▶ after ─hook done─▶ (no record)
                        │                                           ▲
                        └─scale to 0─▶ stopping ─pods gone─▶ stopped ─hook─▶ starting ─rollout─┘
                                                               │ failed, stay-stopped
                                                               ▼
                                                             halted

Two rules make it crash-safe without running a hook twice:

- a hook's outcome is recorded (with the next step) by an annotation-only patch *without* a
  resourceVersion precondition, so a status update of the workload while the hook ran cannot turn
  that write into a conflict, and a conflict's retry cannot run the hook again;
- a step that changes the workload (the restart, the scale to zero, the scale back) writes its
  change and the following step's record in one patch, with the precondition; a conflict there
  re-reads and repeats only that write.

A failed before-hook holds the restart and is tried again with backoff (a new Job per attempt); a
failed stopped-hook scales back up unless the workload asked to stay stopped; a failed after-hook
is reported and changes nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from reloader.runtime.controller import Requeue
from reloader.schedule.domain.patches import recorded_replicas, scale_down_patch
from reloader.workloads.domain.hooks import (
    RELOAD_PREFIX,
    HookNames,
    HookPoint,
    Hooks,
    RestartProgress,
    Step,
    record_patch,
    results_value,
    unusable,
)
from reloader.workloads.domain.patches import merge_patches
from reloader.workloads.domain.rollouts import rollout_progress
from reloader.workloads.hooks import HookRunner, Result
from reloader.workloads.reporting import ident

if TYPE_CHECKING:
    from reloader.core.objects import ObjectKey
    from reloader.schedule.controller import ScheduleController
    from reloader.workloads.domain.kinds import WorkloadKind
    from reloader.workloads.domain.rollouts import WorkloadState

log = structlog.get_logger(__name__)

#: a step that waits (a Job running, pods terminating, a rollout) looks again this often
POLL = 2.0
#: a failed before-hook is tried again after 10 s, 20 s, 40 s, ... at most this long
MAX_BACKOFF = 600.0
NOW = 0.01
#: a step held by an unreadable hook annotation looks again this often
HOLD = 300.0


class HookSteps:
    """The hook steps of one schedule controller (its writes, its pods check, its reporter)."""

    def __init__(self, controller: ScheduleController, names: HookNames) -> None:
        self.ctl = controller
        self.names = names
        self.runner = HookRunner(controller.client)

    def _record(self, progress: RestartProgress | None, **extra: str | None) -> dict[str, Any]:
        return {"metadata": {"annotations": {**record_patch(self.names, progress), **extra}}}

    async def begin(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        state: WorkloadState,
        hooks: Hooks,
        *,
        restart: str,
        slot_record: dict[str, Any],
    ) -> Requeue:
        """Start a restart with hooks: record its first step together with the slot (so the
        schedule does not fire again); the steps follow in later reconciles."""
        first = Step.BEFORE if hooks.before is not None else Step.READY
        patch = merge_patches(slot_record, self._record(RestartProgress(restart, first)))
        await self.ctl._write(kind, state, patch)
        self.ctl.pipeline.adopt(key)
        return Requeue(after=NOW)

    async def advance(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        state: WorkloadState,
        progress: RestartProgress,
        hooks: Hooks,
        *,
        stop_start: bool,
    ) -> Requeue | None:
        step = progress.step
        if step is Step.HALTED:
            self.ctl._wake(self.ctl.pipeline.finished(key))
            if state.replicas:  # an operator scaled it back: the restart is over
                await self._note(kind, state, None)
            return None
        self.ctl.pipeline.adopt(key)  # after a controller restart too: it holds a slot
        if step is Step.BEFORE:
            return await self._hook_step(kind, state, progress, hooks, HookPoint.BEFORE)
        if step is Step.READY:
            rolling = progress.restart.startswith(RELOAD_PREFIX)  # a config change never stops
            return await self._restart(key, kind, state, progress, stop_start and not rolling)
        if step is Step.STOPPING:
            return await self._stopping(kind, state, progress, hooks)
        if step is Step.STOPPED:
            return await self._hook_step(kind, state, progress, hooks, HookPoint.STOPPED)
        if step is Step.STARTING:
            replicas, _ = recorded_replicas(state.annotations, names=self.ctl.names)
            if replicas is not None:
                return await self.ctl._scale_up(kind, state, replicas)
        if step in (Step.RESTARTING, Step.STARTING):
            return await self._rolling(key, kind, state, progress, hooks)
        return await self._hook_step(kind, state, progress, hooks, HookPoint.AFTER)

    # ------------------------------------------------------------------ steps that write
    async def _restart(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        state: WorkloadState,
        progress: RestartProgress,
        stop_start: bool,
    ) -> Requeue:
        """The restart itself, carrying the next step's record."""
        if stop_start and (state.replicas or 0) > 0:
            assert state.replicas is not None  # noqa: S101 - a stop-start kind
            stop = scale_down_patch(names=self.ctl.names, replicas=state.replicas, slot=None)
            patch = merge_patches(stop, self._record(progress.to(Step.STOPPING)))
            write = partial(self.ctl.pipeline.restarter.patch, state, kind, patch)
            written = await self.ctl.pipeline.write(key, kind, write, rolls=True)
            await self.ctl.report.scaled_down(self.ctl._store(kind, written), kind, state.replicas)
            return Requeue(after=POLL)
        restart = partial(
            self.ctl.pipeline.restarter.restart,
            target=state,
            kind=kind,
            at=datetime.fromtimestamp(self.ctl.clock.wall(), UTC),
            record=self._record(progress.to(Step.RESTARTING)),
            job_seed=progress.restart,
        )
        updated, _ = await self.ctl.pipeline.write(key, kind, restart, rolls=True)
        self.ctl._store(kind, updated)
        log.info("hook.restart_written", kind=kind.kind, namespace=key.namespace, name=key.name)
        return Requeue(after=POLL)

    async def _stopping(
        self, kind: WorkloadKind, state: WorkloadState, progress: RestartProgress, hooks: Hooks
    ) -> Requeue | None:
        replicas, _ = recorded_replicas(state.annotations, names=self.ctl.names)
        if state.replicas != 0 or replicas is None:
            # scaled by someone else meanwhile: their count stands, the records go
            patch = self._record(None, **{self.ctl.names.stop_start_replicas: None})
            await self.ctl._write(kind, state, patch)
            await self.ctl.report.abandoned(state, kind)
            return None
        if not await self.ctl._pods_gone(state):
            return Requeue(after=POLL)
        nxt = Step.STOPPED if hooks.stopped is not None else Step.STARTING
        await self._note(kind, state, progress.to(nxt))
        return Requeue(after=NOW)

    async def _rolling(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        state: WorkloadState,
        progress: RestartProgress,
        hooks: Hooks,
    ) -> Requeue | None:
        rollout = rollout_progress(state)
        if not (rollout.done or rollout.failed):
            return Requeue(after=POLL)
        self.ctl._wake(self.ctl.pipeline.finished(key))
        if rollout.failed or hooks.after is None:
            await self._note(kind, state, None)
            return None
        await self._note(kind, state, progress.to(Step.AFTER))
        return Requeue(after=NOW)

    # ------------------------------------------------------------------ steps that run a hook
    async def _hook_step(
        self,
        kind: WorkloadKind,
        state: WorkloadState,
        progress: RestartProgress,
        hooks: Hooks,
        point: HookPoint,
    ) -> Requeue | None:
        """Run (or look at) the hook of ``point``; once done, report it and record its result
        with the step that follows. A hook removed from the workload meanwhile counts as done."""
        hook = hooks.at(point)
        if hook is None and unusable(state.annotations, self.names, point):
            return Requeue(after=HOLD)  # reported as InvalidAnnotation; an edit queues it again
        result = Result.SUCCESS
        if hook is not None and self.ctl.pipeline.restarter.dry_run:
            # a restart recorded before --dry-run was turned on: its hooks are not run
            log.info("would_run_hook", **ident(state), point=point.value, hook=hook.describe())
            return None
        if hook is not None:
            outcome = await self.runner.run(
                state,
                point,
                hook,
                restart=progress.restart,
                attempt=progress.attempt,
                limit=hooks.timeout,
                show_output=hooks.show_output,
            )
            if not outcome.done:
                return Requeue(after=POLL)
            result = outcome.result
            await self.ctl.report.hook(state, kind, point, hook, outcome)
        nxt, wait = self._after_hook(progress, point, ok=result is Result.SUCCESS, hooks=hooks)
        results = {}
        if hook is not None:
            previous = state.annotations.get(self.names.results)
            results[self.names.results] = results_value(previous, point, result)
        await self._note(kind, state, nxt, **results)
        if nxt is not None and nxt.step is Step.HALTED:
            await self.ctl.report.halted(state, kind)
        return Requeue(after=wait) if nxt is not None and wait is not None else None

    @staticmethod
    def _after_hook(
        progress: RestartProgress, point: HookPoint, *, ok: bool, hooks: Hooks
    ) -> tuple[RestartProgress | None, float | None]:
        """The step after ``point``'s hook, and when to look again."""
        if point is HookPoint.BEFORE:
            if ok:
                return progress.to(Step.READY), NOW
            retry = RestartProgress(progress.restart, Step.BEFORE, attempt=progress.attempt + 1)
            return retry, min(10.0 * 2 ** (progress.attempt - 1), MAX_BACKOFF)
        if point is HookPoint.STOPPED:
            if not ok and hooks.stay_stopped:
                return progress.to(Step.HALTED), None
            return progress.to(Step.STARTING), NOW
        return None, None

    async def _note(
        self,
        kind: WorkloadKind,
        state: WorkloadState,
        progress: RestartProgress | None,
        **extra: str,
    ) -> None:
        """Record a step (and hook results) by an annotation-only merge patch without a
        resourceVersion precondition: nothing in it depends on the rest of the workload."""
        await self.ctl.pipeline.writes.acquire()
        body = self._record(progress, **extra)
        written = await self.ctl.pipeline.restarter.patch_unconditionally(state, kind, body)
        self.ctl._store(kind, written)
