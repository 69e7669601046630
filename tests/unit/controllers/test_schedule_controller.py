"""The schedule controller against the fake API server, on a FakeClock: adoption, one restart per
slot, and ``--schedule-max-concurrent``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reloader.core.objects import DEPLOYMENTS, ObjectKey
from reloader.runtime.clock import FakeClock
from reloader.runtime.controller import Requeue
from reloader.settings import ScheduleSettings, Settings
from tests.unit.controllers.builders import NS, deployment, template_annotations
from tests.unit.controllers.harness import Harness

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from tests.unit.controllers.fake_cluster import FakeCluster

SCHEDULE = "reloader.stakater.com/restart-schedule"
BASELINE = "reloader.stakater.com/restart-schedule-baseline"
LAST = "reloader.stakater.com/last-scheduled-restart"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
EVERY_10_MIN = {SCHEDULE: "*/10 * * * *"}
#: 10:02 UTC: the next slot is 10:10, 480 s later
START = datetime(2024, 1, 1, 10, 2, tzinfo=UTC).timestamp()


def key(name: str) -> ObjectKey:
    return ObjectKey("Deployment", NS, name)


def harness(cluster: FakeCluster, client: KubeClient, *, max_concurrent: int = 0) -> Harness:
    return Harness(
        cluster=cluster,
        client=client,
        clock=FakeClock(wall_start=START),
        settings=Settings(schedule=ScheduleSettings(max_concurrent=max_concurrent)),
        reload=False,
        schedule=True,
    )


def patches(cluster: FakeCluster, name: str) -> int:
    return cluster.writes(DEPLOYMENTS, NS, name)


def metadata_annotations(cluster: FakeCluster, name: str) -> dict[str, str]:
    return dict(cluster.get(DEPLOYMENTS, NS, name)["metadata"]["annotations"])


def requeued_after(result: Requeue | None) -> float:
    assert isinstance(result, Requeue), result
    return result.after


async def test_a_schedule_is_adopted_then_restarts_once_when_the_slot_passes(
    cluster: FakeCluster, client: KubeClient
) -> None:
    cluster.put(DEPLOYMENTS, deployment("a", annotations=EVERY_10_MIN))
    h = harness(cluster, client)
    assert h.schedule is not None
    async with h.running():
        await h.settle()
        assert patches(cluster, "a") == 1
        assert metadata_annotations(cluster, "a")[BASELINE] == "2024-01-01T10:02:00Z"
        assert RESTARTED_AT not in template_annotations(cluster.get(DEPLOYMENTS, NS, "a"))
        assert requeued_after(h.results(key("a"), "schedule")[-1]) == 480.0
        await h.until(lambda: bool(cluster.events(reason="ScheduleActive", name="a")))
        await h.advance(479)
        assert patches(cluster, "a") == 1
        await h.advance(1)
        assert patches(cluster, "a") == 2
        restarted = cluster.get(DEPLOYMENTS, NS, "a")
        assert template_annotations(restarted)[RESTARTED_AT] == "2024-01-01T10:10:00Z"
        assert restarted["metadata"]["annotations"][LAST] == "2024-01-01T10:10:00Z"
        assert restarted["metadata"]["generation"] == 2
        reconciled = len(h.results(key("a"), "schedule"))
        h.schedule.queue.add(key("a"))  # look at the same slot again
        await h.settle()
        assert len(h.results(key("a"), "schedule")) == reconciled + 1
        assert patches(cluster, "a") == 2, "a slot restarts once"
        await h.advance(60)  # polls of the rollout in progress, before the next slot
        assert patches(cluster, "a") == 2
        await h.until(lambda: bool(cluster.events(reason="ScheduledRestart", name="a")))
    assert len(cluster.events(reason="ScheduledRestart", name="a")) == 1


async def test_max_concurrent_makes_a_second_due_restart_wait_for_the_first_rollout(
    cluster: FakeCluster, client: KubeClient
) -> None:
    for name in ("a", "b"):
        cluster.put(DEPLOYMENTS, deployment(name, annotations=EVERY_10_MIN))
    h = harness(cluster, client, max_concurrent=1)
    async with h.running():
        await h.settle()
        await h.advance(480)  # 10:10: both are due
        [first] = [n for n in ("a", "b") if patches(cluster, n) == 2]
        [second] = {"a", "b"} - {first}
        assert patches(cluster, second) == 1, "only its adoption"
        assert requeued_after(h.results(key(second), "schedule")[-1]) == 2.0
        await h.until(lambda: bool(cluster.events(reason="ScheduledRestartWaiting")))
        assert cluster.events(reason="ScheduledRestartWaiting")[0]["involvedObject"]["name"] == (
            second
        )
        assert h.sample("reloader_scheduled_restarts_waiting") == 1
        assert h.sample("reloader_scheduled_restarts_in_progress") == 1
        await h.advance(2)  # its next look: the first rollout is still under way
        assert patches(cluster, second) == 1
        cluster.complete_rollout(DEPLOYMENTS, NS, first)
        await h.settle()
        assert patches(cluster, second) == 2
        assert metadata_annotations(cluster, second)[LAST] == "2024-01-01T10:10:00Z"
        assert RESTARTED_AT in template_annotations(cluster.get(DEPLOYMENTS, NS, second))
        assert h.sample("reloader_scheduled_restarts_waiting") == 0
        assert h.sample("reloader_scheduled_restarts_in_progress") == 1
        await h.until(lambda: len(cluster.events(reason="ScheduledRestart")) == 2)
    assert len(cluster.events(reason="ScheduledRestartWaiting")) == 1
    assert patches(cluster, first) == 2


async def test_its_own_write_queues_no_second_reconcile(
    cluster: FakeCluster, client: KubeClient
) -> None:
    cluster.put(DEPLOYMENTS, deployment("a", annotations=EVERY_10_MIN))
    h = harness(cluster, client)
    async with h.running():
        await h.fence()  # the echo of the adoption's write has arrived
        assert patches(cluster, "a") == 1
    assert h.results(key("a"), "schedule") == [Requeue(after=480.0)]
