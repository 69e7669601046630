"""What the reload controller remembers between events, per workload: pending changes (the
debounce), for ``--reload-on-create`` which sources are newer than the workload, and which
versions of a workload are its own record-only writes.

All are in memory only, and all are hints: losing them (a restart) costs at most an earlier
reconcile, a missed reload-on-create or a short flapping hold, never a lost change, because the
plan compares the hashes recorded on the workload with the current ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reloader.reload.domain import debounce as rules

if TYPE_CHECKING:
    from reloader.core.objects import EventType, ObjectKey
    from reloader.reload.domain.views import WorkloadView
    from reloader.runtime.clock import Clock


class Debounce:
    """The trailing debounce of each workload's pending change (rules in domain/debounce.py)."""

    def __init__(self, *, seconds: float, clock: Clock) -> None:
        self.seconds = seconds
        self.clock = clock
        self._first: dict[ObjectKey, float] = {}
        self._last: dict[ObjectKey, float] = {}
        self._quiet: dict[ObjectKey, float] = {}
        self._round_trip: float | None = None

    def changed(self, key: ObjectKey) -> None:
        """A source of ``key`` changed now."""
        now = self.clock.monotonic()
        self._quiet[key] = rules.quiet_time(
            previous_change=self._last.get(key),
            now=now,
            debounce=self.seconds,
            round_trip=self._round_trip or 0.0,
        )
        self._first.setdefault(key, now)
        self._last[key] = now

    def wait(self, key: ObjectKey) -> float:
        """Seconds until ``key``'s pending change may be reconciled (0: now)."""
        first, last = self._first.get(key), self._last.get(key)
        if first is None or last is None:
            return 0.0
        return rules.wait(
            first_change=first,
            last_change=last,
            quiet=self._quiet.get(key, self.seconds),
            now=self.clock.monotonic(),
            debounce=self.seconds,
        )

    def wrote(self, seconds: float) -> None:
        """A write to the API server took ``seconds``: how busy it is, for a burst's quiet."""
        self._round_trip = rules.round_trip(self._round_trip, seconds)

    def last_change(self, key: ObjectKey) -> float | None:
        return self._last.get(key)

    def settled(self, key: ObjectKey) -> float | None:
        """``key``'s pending change was applied (or needed nothing): when it began, if pending."""
        return self._first.pop(key, None)

    def forget(self, key: ObjectKey) -> None:
        for table in (self._first, self._last, self._quiet):
            table.pop(key, None)


class CreatedSources:
    """``--reload-on-create``: a source rolls a workload only if it was created after the
    workload was first seen."""

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self._created: dict[str, dict[str, float]] = {}  # namespace → {record key: created}
        self._first_seen: dict[ObjectKey, float] = {}

    def added(self, namespace: str, record_key: str) -> None:
        self._created.setdefault(namespace, {})[record_key] = self.clock.monotonic()

    def deleted(self, namespace: str, record_key: str) -> None:
        self._created.get(namespace, {}).pop(record_key, None)

    def seen(self, key: ObjectKey) -> None:
        self._first_seen.setdefault(key, self.clock.monotonic())

    def forget(self, key: ObjectKey) -> None:
        self._first_seen.pop(key, None)

    def newer_than(self, key: ObjectKey) -> frozenset[str]:
        """Record keys of the sources created after ``key`` was first seen."""
        first_seen = self._first_seen.get(key)
        created = self._created.get(key.namespace, {})
        if first_seen is None or not created:
            return frozenset()
        return frozenset(k for k, at in created.items() if at > first_seen)


class RecordWrites:
    """Workload versions that our own write of metadata alone (the ``applied-hashes`` record, a
    wave verdict) produced, on a workload rolled out but for that write's generation bump
    (``domain/rollouts.py``).

    Such a version is not "rolling": its controller has not observed the new generation yet,
    but there is no new pod template to roll out. The version is kept here, not on the cached
    view, because the watch may deliver the same version first, and the cache keeps the first.
    """

    def __init__(self) -> None:
        self._versions: dict[ObjectKey, str] = {}

    def written(self, key: ObjectKey, resource_version: str) -> None:
        self._versions[key] = resource_version

    def rolled_out(self, key: ObjectKey, resource_version: str) -> bool:
        """Whether ``key`` at ``resource_version`` is our record-only write."""
        return bool(resource_version) and self._versions.get(key) == resource_version

    def forget(self, key: ObjectKey) -> None:
        self._versions.pop(key, None)

    def on_workload(
        self, event: EventType, key: ObjectKey, old: WorkloadView | None, new: WorkloadView | None
    ) -> None:
        """Informer handler: a newer version replaces ours, a deleted workload is forgotten."""
        del event, old
        if new is None or self._versions.get(key, new.resource_version) != new.resource_version:
            self.forget(key)
