"""The image controller: restarts workloads when the image behind a watched tag moves.

Keyed by workload, with its own informers (through the shared :class:`Scope`, so no second
watch) that keep an :class:`ImageWorkload` per opted-in workload. ``reconcile(key)`` asks the
:class:`Poller` for the current digest of each watched reference (one request per reference and
interval, whatever the number of workloads), plans against the record on the workload
(``domain/plans.py``) and writes at most one change: the record alone (first sight), or a restart
through the restart pipeline (windows, rollout limits, write-rate limit) with the new record in
the same patch. It returns ``Requeue(after=…)`` for the next poll, so an idle watch costs a
timer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from reloader.core.objects import ObjectKey
from reloader.errors import Conflict, KubeError, NotFound
from reloader.images.domain.plans import ImagePlan, pin_patch, plan_images
from reloader.images.domain.views import ImageWorkload, summarize_images
from reloader.images.domain.watch import ImageNames, WatchSpec, format_record, read_spec
from reloader.images.metrics import ImageMetrics
from reloader.images.poller import Poller
from reloader.images.pull_secrets import pull_credentials
from reloader.images.registry import RegistryClient
from reloader.images.reporting import ImageReporter
from reloader.images.waves import ImageWaves, subject_of
from reloader.kube import resources
from reloader.observability.notify import Alerter
from reloader.runtime.clock import RealClock
from reloader.runtime.controller import Requeue
from reloader.runtime.queue import WorkQueue
from reloader.runtime.retry import on_conflict
from reloader.workloads.domain.hooks import (
    HookNames,
    RestartProgress,
    Step,
    parse_hooks,
    read_progress,
    record_patch,
)
from reloader.workloads.domain.kinds import KINDS, WorkloadKind, enabled_kinds
from reloader.workloads.domain.patches import merge_patches
from reloader.workloads.domain.rollouts import WorkloadState, rollout_outcome, rollout_progress
from reloader.workloads.domain.waves import WaveRecord, judged_failed, read_record
from reloader.workloads.domain.waves import record_patch as wave_record_patch
from reloader.workloads.pipeline import RestartPipeline
from reloader.workloads.waves import WaveMetrics, Waves

if TYPE_CHECKING:
    from reloader.core.objects import EventType
    from reloader.kube.client import KubeClient
    from reloader.observability.events import EventRecorder
    from reloader.observability.metrics import Metrics
    from reloader.runtime.clock import Clock
    from reloader.settings import Settings
    from reloader.workloads.admission import WriteLimiter
    from reloader.workloads.pending_jobs import PendingJobs
    from reloader.workloads.scope import InformerSet, Scope

log = structlog.get_logger(__name__)

#: how often a rollout of ours is looked at until it completes (workload updates wake it sooner)
POLL = 2.0
#: the shortest requeue (a reference due now, or in backoff that ends now)
MIN_REQUEUE = 0.5


class ImageController:
    """Informers, queue, poller and reconcile for image-triggered restarts."""

    def __init__(
        self,
        *,
        client: KubeClient,
        settings: Settings,
        metrics: Metrics,
        recorder: EventRecorder,
        scope: Scope,
        names: ImageNames | None = None,
        pending: PendingJobs | None = None,
        writes: WriteLimiter | None = None,
        clock: Clock | None = None,
        alerter: Alerter | None = None,
        wave_metrics: WaveMetrics | None = None,
    ) -> None:
        self.client = client
        self.settings = settings.images
        self.scope = scope
        self.names = names or ImageNames()
        self.clock = clock or RealClock()
        self.metrics = ImageMetrics(metrics.registry)
        self.queue: WorkQueue[ObjectKey] = WorkQueue(clock=self.clock, name="images")
        self.report = ImageReporter(
            metrics=self.metrics, recorder=recorder, dry_run=settings.dry_run
        )
        safety = settings.safety
        self.pipeline = RestartPipeline.build(
            client=client,
            settings=settings,
            limits=(safety.max_rollouts, safety.max_rollouts_per_namespace),
            flap_max_wait=safety.flap_max_wait,
            writes=writes,
            pending=pending,
            on_change=lambda _: None,
            clock=self.clock,
        )
        self.registry = RegistryClient(
            plain_http=frozenset(self.settings.plain_http), on_request=self.metrics.request
        )
        self.poller = Poller(
            client=self.registry, clock=self.clock, on_failure=self.metrics.failure
        )
        window = settings.names
        self.hook_names = HookNames()
        keep = self.names.keys() | {window.reload_window, window.reload_window_timezone}
        keep |= self.hook_names.keys()
        keep |= {window.wave, window.canary, window.health_timeout, window.release_halted}
        self._keep = keep
        self.workloads: dict[str, InformerSet[ImageWorkload]] = {}
        for kind in enabled_kinds(
            ignored_workload_types=settings.reload.ignored_workload_types,
            argo_rollouts=settings.reload.argo_rollouts,
        ):
            transform = partial(summarize_images, kind, watch_key=self.names.watch, keep=keep)
            inf = scope.informer(kind.resource, transform=transform)
            inf.add_handler(self._on_workload)
            self.workloads[kind.kind] = inf

        self.waves = Waves(
            client=client,
            names=settings.names,
            health_timeout=safety.health_timeout,
            reporter=self.report,
            metrics=wave_metrics or WaveMetrics(metrics.registry),
            dry_run=settings.dry_run,
            alerter=alerter or Alerter(settings.alerts),
            clock=self.clock,
        )
        self.image_waves = ImageWaves(
            names=settings.names,
            canary_size=safety.canary_size,
            workloads=lambda: (v for inf in self.workloads.values() for v in inf.list()),
            spec=self.spec,
            noted=self.waves.metrics.noted,
        )

    def synced(self) -> bool:
        return all(i.has_synced for i in self.workloads.values())

    async def aclose(self) -> None:
        await self.registry.aclose()

    def _on_workload(
        self,
        event: EventType,
        key: ObjectKey,
        old: ImageWorkload | None,
        new: ImageWorkload | None,
    ) -> None:
        if (old is None) != (new is None):
            self.metrics.watched.inc(1 if old is None else -1)
        if new is None:
            for woken in self.pipeline.forget(key):
                self.queue.add(woken)
            self.report.forget(key)
            return
        self.queue.add(key)

    def enqueue_all(self) -> None:
        """Queue every watched workload (after the caches sync)."""
        for inf in self.workloads.values():
            for key in inf.keys():  # noqa: SIM118 - an InformerSet, not a dict
                self.queue.add(key)

    def spec(self, view: ImageWorkload) -> WatchSpec:
        return read_spec(
            view.state.annotations,
            view.containers,
            names=self.names,
            default_interval=self.settings.interval,
            min_interval=self.settings.min_interval,
        )

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, key: ObjectKey) -> Requeue | None:
        inf = self.workloads.get(key.kind)
        view = inf.get(key) if inf is not None else None
        if view is None or not self.scope.namespace_allowed(key.namespace):
            for woken in self.pipeline.finished(key):
                self.queue.add(woken)
            return None
        kind = KINDS[key.kind]
        try:
            return await on_conflict(
                partial(self._reconcile, key, kind), view, partial(self._read, kind, key)
            )
        except NotFound:
            return None  # deleted meanwhile: its DELETED event cleans up

    async def _read(self, kind: WorkloadKind, key: ObjectKey) -> ImageWorkload:
        fresh = await resources.get(
            self.client, kind.resource, namespace=key.namespace, name=key.name
        )
        view = self._store(kind, fresh, notify=False)
        if view is None:
            raise NotFound(f"{key.kind} {key.namespace}/{key.name} no longer watches images")
        return view

    async def _reconcile(
        self, key: ObjectKey, kind: WorkloadKind, view: ImageWorkload
    ) -> Requeue | None:
        followed = await self.waves.follow(subject_of(view), kind)
        if followed.written is not None:
            view = self._store(kind, followed.written) or view
        if followed.settled:  # a verdict: the other watchers of its images may move on
            record = read_record(view.state.annotations, self.waves.names)
            for woken in self.image_waves.watchers(record.changes if record else ()):
                self.queue.add(woken)
        state = view.state
        spec = self.spec(view)
        await self.report.warnings(key, state, kind, spec.warnings)
        tracking = self._track(key, view)
        current, errors, due = await self._poll(view, spec)
        await self.report.check_failures(key, state, kind, errors)
        plan = plan_images(spec.watched, spec.recorded, current)
        after = max(due - self.clock.monotonic(), MIN_REQUEUE)
        if followed.retry_after is not None:
            after = min(after, followed.retry_after)
        if plan.rolls:
            wave = self.image_waves.decide(key, view, plan)
            waits = await self.waves.hold(
                self.pipeline,
                key,
                state,
                kind,
                wave.decision,
                wave.describe(),
                lambda reason: self.report.held(state, kind, reason, plan.moves),
            )
            if waits is not None:
                return Requeue(after=min(after, waits))
            hold, _ = self.pipeline.admit(
                key,
                state.annotations,
                # as the reload controller: a rollout past its deadline will not finish by
                # itself, so a newer digest (the fix) does not wait for it
                rollout_complete=rollout_outcome(state).settled
                or judged_failed(state.annotations, self.waves.names),
                now=self.clock.wall(),
            )
            if hold is not None:
                if self.pipeline.hold(key, hold.reason):
                    await self.report.held(state, kind, hold.reason, plan.moves)
                return Requeue(after=min(after, hold.retry_after))
            self.pipeline.release(key)
            await self._restart(key, kind, view, spec, plan, wave.record_changes())
            return Requeue(after=min(after, POLL))
        self.pipeline.release(key)
        if plan.record is not None:
            self._store(kind, await self._write(kind, view, self._record_patch(plan)))
            adopted = {name: plan.record[name] for name in plan.adopted}
            if adopted:
                await self.report.recorded(state, kind, adopted)
        if tracking:
            return Requeue(after=min(after, POLL))
        # nothing watchable (every image pinned): a change of the workload queues it again
        return Requeue(after=after) if spec.watched else None

    async def _poll(
        self, view: ImageWorkload, spec: WatchSpec
    ) -> tuple[dict[str, str | None], tuple[str, ...], float]:
        """The current digest of each watched reference (None: unknown), the errors, and the
        monotonic time the next one is due."""
        current: dict[str, str | None] = {}
        errors: list[str] = []
        due = self.clock.monotonic() + spec.interval
        for ref in spec.watched:
            found = await self.poller.current(
                ref,
                spec.interval,
                partial(pull_credentials, self.client, view, ref),
                source=view.credential_source,
            )
            current[str(ref)] = found.digest if not found.error else None
            if found.error:
                errors.append(found.error)
            due = min(due, found.due(spec.interval))
        return current, tuple(errors), due

    # ------------------------------------------------------------------ writes
    def _record_patch(self, plan: ImagePlan, waved: dict[str, str] | None = None) -> dict[str, Any]:
        """The digest record; with ``waved`` changes, the wave record too (docs/waves.md)."""
        assert plan.record is not None  # noqa: S101 - only called when the record changes
        patch = {"metadata": {"annotations": {self.names.record: format_record(plan.record)}}}
        if waved:
            record = WaveRecord(waved, int(self.clock.wall()))
            patch = merge_patches(patch, wave_record_patch(record, self.waves.names))
        return patch

    async def _restart(
        self,
        key: ObjectKey,
        kind: WorkloadKind,
        view: ImageWorkload,
        spec: WatchSpec,
        plan: ImagePlan,
        waved: dict[str, str],
    ) -> None:
        """Roll for the moves: the kind's restart, or with pinning the new digests written into
        the pod template (the kind's reload verb); the new record (and the wave record of the
        moves that roll in waves) in the same write."""
        state = view.state
        restarter = self.pipeline.restarter
        seed = sorted(m.new for m in plan.moves)
        action: Callable[[], Awaitable[dict[str, Any]]]
        handed = not spec.pin and self._has_hooks(state)
        if spec.pin:
            patch = merge_patches(
                pin_patch(kind, spec.images, plan.moves), self._record_patch(plan, waved)
            )
            action = partial(
                restarter.write, view=state, kind=kind, patch=patch, rolls=True, job_seed=seed
            )
        elif handed:
            # restart hooks: handed to the schedule controller, which runs the hooks and the
            # restart from the recorded step, as it does for ``reloader restart``
            progress = RestartProgress(f"image {','.join(seed)}", Step.BEFORE)
            hand_over = {"metadata": {"annotations": record_patch(self.hook_names, progress)}}
            patch = merge_patches(self._record_patch(plan, waved), hand_over)
            action = partial(restarter.patch, state, kind, patch)
        else:
            restart = partial(
                restarter.restart,
                target=state,
                kind=kind,
                at=datetime.fromtimestamp(self.clock.wall(), UTC),
                record=self._record_patch(plan, waved),
                job_seed=",".join(seed),
            )

            async def action() -> dict[str, Any]:
                return (await restart())[0]

        try:
            updated = await self.pipeline.write(key, kind, action, rolls=True)
        except (Conflict, NotFound):
            raise
        except KubeError as exc:
            await self.report.failed(state, kind, exc)
            raise
        self._store(kind, updated)
        await self.report.updated(state, kind, plan.moves, hooks=handed)

    async def _write(
        self, kind: WorkloadKind, view: ImageWorkload, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """A record-only patch (resourceVersion precondition) under the write-rate limit."""
        await self.pipeline.writes.acquire()
        return await self.pipeline.restarter.patch(view.state, kind, patch)

    def _store(
        self, kind: WorkloadKind, obj: dict[str, Any], *, notify: bool = False
    ) -> ImageWorkload | None:
        """Cache a workload as we wrote (or read) it: our own write queues no second reconcile."""
        inf = self.workloads[kind.kind]
        view = summarize_images(kind, obj, watch_key=self.names.watch, keep=self._keep)
        if view is not None:
            inf.upsert(view, notify=notify)
        return view

    def _has_hooks(self, state: WorkloadState) -> bool:
        """Whether its restart has hooks to run (and none is in progress already)."""
        if read_progress(state.annotations, self.hook_names) is not None:
            return False
        hooks, _ = parse_hooks(state.annotations, names=self.hook_names, stop_start=False)
        return hooks.any

    def _track(self, key: ObjectKey, view: ImageWorkload) -> bool:
        """Free the slot of a restart of ours once its rollout completes; True while it runs."""
        gate = self.pipeline.gate
        if key in gate.expired:
            gate.expired.discard(key)
        elif gate.running_for(key) is None:
            return False
        else:
            progress = rollout_progress(view.state)
            if not (progress.done or progress.failed):
                return True
            log.info("image.rollout_done", namespace=key.namespace, name=key.name)
        for woken in self.pipeline.finished(key):
            self.queue.add(woken)
        return False
