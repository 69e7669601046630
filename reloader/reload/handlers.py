"""Informer events → workload keys on the reload queue. Nothing here decides a reload.

- A source changed: the workloads that reference it (the ``references`` index) and those with an
  explicit reload list in its namespace (the ``explicit`` index) get the change noted for the
  debounce and their key queued in the queue's urgent lane, ahead of the initial pass (the
  first-sight records at start). A change of labels only is ignored. Held workloads woken (a
  slot freed, a wave moved on) are urgent too; a workload's own change and the initial pass are
  not.
- A workload changed in what a decision reads: queued. A status-only update is not, except that
  a rollout reaching completion frees its slot and wakes the held workloads.
- A workload's own write by this controller is stored by the controller without notifying
  handlers, so it does not queue a second, idle reconcile.
- A namespace entering the selection queues its workloads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import structlog

from reloader.core.annotations import SourceKind
from reloader.core.objects import EventType, ObjectKey
from reloader.observability.metrics import SkipReason
from reloader.reload.sources import RESOURCE_NAMES
from reloader.workloads.domain.waves import WaveState, read_record

if TYPE_CHECKING:
    from reloader.observability.metrics import Metrics
    from reloader.reload.domain.views import SourceView, WorkloadView
    from reloader.reload.reporting import Reporter
    from reloader.reload.tracking import CreatedSources, Debounce
    from reloader.runtime.queue import WorkQueue
    from reloader.settings import Settings
    from reloader.workloads.pipeline import RestartPipeline
    from reloader.workloads.scope import InformerSet, Scope

log = structlog.get_logger(__name__)


_EVENT_NAMES = {EventType.ADDED: "add", EventType.DELETED: "delete"}


class ReloadHandlers:
    def __init__(
        self,
        *,
        settings: Settings,
        scope: Scope,
        queue: WorkQueue[ObjectKey],
        workloads: dict[str, InformerSet[WorkloadView]],
        debounce: Debounce,
        created: CreatedSources,
        pipeline: RestartPipeline,
        report: Reporter,
        metrics: Metrics,
        synced: Callable[[], bool],
    ) -> None:
        self.settings = settings
        self.scope = scope
        self.queue = queue
        self.workloads = workloads
        self.debounce = debounce
        self.created = created
        self.pipeline = pipeline
        self.report = report
        self.metrics = metrics
        self.synced = synced

    def on_source(
        self, event: EventType, key: ObjectKey, old: SourceView | None, new: SourceView | None
    ) -> None:
        view = new or old
        assert view is not None  # noqa: S101 - the informer always passes one of them
        resource = RESOURCE_NAMES[view.kind]
        self.metrics.events_received.labels(
            event_type=_EVENT_NAMES.get(event, "update"), resource_type=resource
        ).inc()
        if not self.synced():
            return  # the initial reconcile of every workload covers the initial list
        if old is not None and new is not None and old.hash == new.hash:
            self.metrics.skipped.labels(
                reason=SkipReason.NO_DATA_CHANGE
            ).inc()  # as Reloader counts it
            if old.annotations == new.annotations:
                return  # labels only: nothing a decision reads
            # ignore / match annotations changed: decisions may change, reconcile below
        if not self.scope.namespace_allowed(view.namespace):
            self.metrics.skipped.labels(reason=SkipReason.IGNORED_OR_NOT_SELECTED).inc()
            return
        self._note_created(event, view)
        keys = self.workloads_for(view.kind, view.namespace, view.name)
        for wl_key in keys:
            self.debounce.changed(wl_key)
            self.queue.add(wl_key, urgent=True)  # ahead of the initial pass's first sights
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

    def _note_created(self, event: EventType, view: SourceView) -> None:
        record_key = view.kind.record_key(view.name)
        if (
            event is EventType.ADDED
            and self.settings.reload.reload_on_create
            and view.kind is not SourceKind.SECRETPROVIDERCLASS  # a new pod's status, not new
        ):
            self.created.added(view.namespace, record_key)
        elif event is EventType.DELETED:
            self.created.deleted(view.namespace, record_key)

    def workloads_for(self, kind: SourceKind, namespace: str, name: str) -> set[ObjectKey]:
        keys: set[ObjectKey] = set()
        for inf in self.workloads.values():
            keys.update(inf.keys_by_index("references", (kind, namespace, name)))
            keys.update(inf.keys_by_index("explicit", namespace))
        return keys

    def on_workload(
        self, event: EventType, key: ObjectKey, old: WorkloadView | None, new: WorkloadView | None
    ) -> None:
        if new is None:
            self.debounce.forget(key)
            self.created.forget(key)
            self.report.forget(key)
            self._wake(self.pipeline.forget(key))
            return
        self.created.seen(key)
        if new.rollout_complete and (old is None or not old.rollout_complete):
            self._wake(self.pipeline.finished(key))
        if old is not None and relevant(old) == relevant(new):
            # status-only update (a rollout progressing): nothing to decide, unless the workload
            # rolled in a wave waits for its verdict (workloads/waves.py)
            if self.settings.names.wave in new.annotations and _rollout(old) != _rollout(new):
                self.queue.add(key)
            return
        self.queue.add(key)

    def wake_wave_peers(self, view: WorkloadView) -> None:
        """A wave verdict (or release) was written on ``view`` (as written, and cached): the
        other workloads of the changes it rolled may move on. Not after a healthy verdict while
        another target of the change still rolls it: every one of them waits for that one, whose
        own verdict wakes them (and a waiting target looks again every few seconds anyway)."""
        record = read_record(view.annotations, self.settings.names)
        if record is None:
            return
        healthy = record.state is WaveState.HEALTHY
        for change, version in record.changes.items():
            if (parsed := SourceKind.of_record_key(change)) is None:
                continue
            keys = self.workloads_for(parsed[0], view.namespace, parsed[1])
            if healthy and any(self._rolls(key, change, version) for key in keys):
                continue
            for key in keys:
                self.queue.add(key, urgent=True)

    def _rolls(self, key: ObjectKey, change: str, version: str) -> bool:
        """Whether the cached ``key`` is rolled for (change, version), its verdict pending."""
        view = self.workloads[key.kind].get(key)
        record = read_record(view.annotations, self.settings.names) if view else None
        return (
            record is not None
            and record.state is WaveState.ROLLING
            and record.carries(change, version)
        )

    def _wake(self, keys: Iterable[ObjectKey]) -> None:
        """Rollout slots freed: look again at the workloads that were held."""
        for key in keys:
            self.queue.add(key, urgent=True)

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
                    self.pipeline.adopt(key)
                self.queue.add(key)

    def on_namespace(self, namespace: str) -> None:
        for inf in self.workloads.values():
            for view in inf.list():
                if view.namespace == namespace:
                    self.queue.add(ObjectKey(view.kind, view.namespace, view.name))


def _rollout(view: WorkloadView) -> tuple[object, ...]:
    return (view.rollout_complete, view.rollout_failure)


def relevant(view: WorkloadView) -> tuple[object, ...]:
    """What a reload decision reads from a workload (not its status or resourceVersion)."""
    return (
        view.annotations,
        view.template_annotations,
        view.references,
        view.containers,
        view.stakater_env,
        view.targets,
    )
