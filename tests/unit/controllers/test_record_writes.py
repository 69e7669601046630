"""Our own record-only writes: the version they produced is not a rollout, whichever of our
write's answer and the watch's echo reaches the cache first; any later version is judged alone."""

from __future__ import annotations

from reloader.core.objects import EventType, ObjectKey
from reloader.reload.domain.views import WorkloadView
from reloader.reload.tracking import RecordWrites

KEY = ObjectKey("Deployment", "ns", "web")


def view(version: str) -> WorkloadView:
    return WorkloadView(
        kind="Deployment", namespace="ns", name="web", resource_version=version,
        rollout_complete=False,
    )  # fmt: skip


def test_the_version_our_record_write_produced_is_rolled_out() -> None:
    writes = RecordWrites()
    # the watch's echo of our write may come first: it must not forget what is not known yet
    writes.on_workload(EventType.MODIFIED, KEY, view("6"), view("7"))
    writes.written(KEY, "7")
    assert writes.rolled_out(KEY, "7")
    assert not writes.rolled_out(KEY, "6")
    assert not writes.rolled_out(ObjectKey("Deployment", "ns", "other"), "7")
    writes.on_workload(EventType.MODIFIED, KEY, view("6"), view("7"))  # a late echo
    assert writes.rolled_out(KEY, "7")


def test_a_newer_version_or_a_deletion_forgets_it() -> None:
    writes = RecordWrites()
    writes.written(KEY, "7")
    writes.on_workload(EventType.MODIFIED, KEY, view("7"), view("8"))
    assert not writes.rolled_out(KEY, "7")
    writes.written(KEY, "9")
    writes.on_workload(EventType.DELETED, KEY, view("9"), None)
    assert not writes.rolled_out(KEY, "9")
    assert not writes.rolled_out(KEY, "")
