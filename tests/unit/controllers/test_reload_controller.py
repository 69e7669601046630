"""The reload controller against the fake API server, on a FakeClock: debounce, holds (rollout
limit, window), pause-period, and no second reconcile for its own write."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, ObjectKey
from reloader.reload.controller import reload_kinds
from reloader.reload.domain.hashing import source_hash
from reloader.reload.domain.views import WorkloadView, summarize_workload
from reloader.runtime.clock import FakeClock
from reloader.runtime.controller import Requeue
from reloader.settings import ReloadSettings, SafetySettings, Settings
from reloader.workloads.domain.kinds import KINDS
from tests.unit.controllers.builders import NS, configmap, deployment, env_of
from tests.unit.controllers.harness import Harness

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from tests.unit.controllers.fake_cluster import FakeCluster

AUTO = {"reloader.stakater.com/auto": "true"}
APPLIED = "reloader.stakater.com/applied-hashes"
PAUSED_AT = "deployment.reloader.stakater.com/paused-at"
WAVE = "reloader.stakater.com/wave"
ENV_A = "STAKATER_CFG_A_CONFIGMAP"
ENV_B = "STAKATER_CFG_B_CONFIGMAP"


def settings(*, debounce: float = 0.0, **safety: Any) -> Settings:
    return Settings(
        reload=ReloadSettings(debounce_seconds=debounce), safety=replace(SafetySettings(), **safety)
    )


def key(name: str) -> ObjectKey:
    return ObjectKey("Deployment", NS, name)


def setup(cluster: FakeCluster, *names: str, annotations: dict[str, str] | None = None) -> None:
    """Per name: a ConfigMap ``cfg-NAME`` and a Deployment ``NAME`` that uses it, auto-reloaded."""
    for name in names:
        cluster.put(CONFIGMAPS, configmap(f"cfg-{name}", {"k": "1"}))
        cluster.put(
            DEPLOYMENTS,
            deployment(name, configmap=f"cfg-{name}", annotations={**AUTO, **(annotations or {})}),
        )


def change(cluster: FakeCluster, name: str, value: str) -> str:
    """Edit ``cfg-NAME``; the hash its workloads should end up with."""
    obj = cluster.modify(CONFIGMAPS, NS, f"cfg-{name}", lambda cm: cm.update(data={"k": value}))
    return source_hash(SourceKind.CONFIGMAP, obj)


def patches(cluster: FakeCluster, name: str) -> int:
    return cluster.writes(DEPLOYMENTS, NS, name)


def requeued_after(result: Requeue | None) -> float:
    assert isinstance(result, Requeue), result
    return result.after


async def test_first_sight_records_the_hashes_without_a_rollout(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    setup(cluster, "a")
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    async with h.running():
        await h.settle()
    obj = cluster.get(DEPLOYMENTS, NS, "a")
    assert patches(cluster, "a") == 1
    assert ENV_A not in env_of(obj)
    assert obj["metadata"]["generation"] == 1, "a record on the metadata rolls nothing"
    assert "configmap/cfg-a" in obj["metadata"]["annotations"][APPLIED]


async def test_a_reconcile_inside_the_debounce_window_requeues_for_the_rest_and_writes_nothing(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    setup(cluster, "a")
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings(debounce=1.0))
    assert h.reload is not None
    async with h.running(workers=0):
        assert await h.reload.reconcile(key("a")) is None  # the first sight: adopted
        final = change(cluster, "a", "2")
        await h.settle()
        await h.advance(0.2)  # a lone change waits half the debounce
        assert requeued_after(await h.reload.reconcile(key("a"))) == pytest.approx(0.3)
        assert patches(cluster, "a") == 1, "nothing written inside the window"
        await h.advance(0.3)
        assert await h.reload.reconcile(key("a")) is None
    assert patches(cluster, "a") == 2
    assert env_of(cluster.get(DEPLOYMENTS, NS, "a"))[ENV_A] == final


async def test_a_burst_of_changes_gives_one_patch_with_the_final_hash(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    setup(cluster, "a")
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings(debounce=1.0))
    async with h.running():
        await h.settle()
        assert h.results(key("a")) == [None]  # adopted
        for value in ("2", "3", "4"):
            final = change(cluster, "a", value)
            await h.settle()
            await h.advance(0.4)
        # t=1.2: changes at 0, 0.4 and 0.8, each reconciled at once and requeued: a lone change
        # waits half the debounce, a burst three after its last change (tracking.Debounce)
        assert [requeued_after(r) for r in h.results(key("a"))[1:]] == [0.5, 3.0, 3.0]
        assert patches(cluster, "a") == 1
        await h.advance(2.4)
        assert len(h.results(key("a"))) == 4, "not due before t=3.8"
        await h.advance(0.2)
        await h.fence()
    assert h.results(key("a"))[4:] == [None], "one more reconcile, which wrote"
    assert patches(cluster, "a") == 2
    obj = cluster.get(DEPLOYMENTS, NS, "a")
    assert env_of(obj)[ENV_A] == final
    assert f'"configmap/cfg-a":"{final}"' in obj["metadata"]["annotations"][APPLIED]
    assert obj["metadata"]["generation"] == 2, "one rollout"


async def test_its_own_write_queues_no_second_reconcile(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    setup(cluster, "a")
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    assert h.reload is not None
    async with h.running():
        await h.fence()  # the echo of the adoption's write has arrived
        assert h.results(key("a")) == [None]
        change(cluster, "a", "2")
        await h.fence()  # ... and the echo of the rollout's write
        assert h.results(key("a")) == [None, None]
        assert key("a") not in h.reload.queue
        assert not h.reload.queue.is_processing(key("a"))
    assert patches(cluster, "a") == 2


async def test_a_rollout_limit_holds_the_second_reload_until_the_first_rollout_completes(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    setup(cluster, "a", "b")
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings(max_rollouts=1))
    async with h.running():
        await h.settle()
        change(cluster, "a", "2")
        await h.settle()
        assert patches(cluster, "a") == 2
        assert h.sample("reloader_rollouts_in_progress") == 1
        hash_b = change(cluster, "b", "2")
        await h.settle()
        assert patches(cluster, "b") == 1, "held: only the adoption was written"
        assert requeued_after(h.results(key("b"))[-1]) == 5.0
        await h.until(lambda: bool(cluster.events(reason="ReloadHeld", name="b")))
        assert h.sample("reloader_held_reloads", reason="limit") == 1
        assert h.sample("reloader_reloads_held_total", reason="limit") == 1
        # a's Deployment controller reports its rollout complete: the informer handler frees
        # the slot and wakes b, before b's own requeue (the clock has not moved)
        cluster.complete_rollout(DEPLOYMENTS, NS, "a")
        await h.settle()
        assert clock.monotonic() == 0.0
        assert patches(cluster, "b") == 2
        assert env_of(cluster.get(DEPLOYMENTS, NS, "b"))[ENV_B] == hash_b
        assert h.sample("reloader_held_reloads", reason="limit") == 0
        await h.until(lambda: bool(cluster.events(reason="ReloadReleased", name="b")))
    assert len(cluster.events(reason="ReloadHeld", name="b")) == 1
    assert not cluster.events(reason="ReloadHeld", name="a")


async def test_a_closed_reload_window_holds_until_the_clock_reaches_its_opening(
    cluster: FakeCluster, client: KubeClient
) -> None:
    monday = datetime(2024, 1, 1, 8, 59, tzinfo=UTC).timestamp()  # a minute before it opens
    clock = FakeClock(wall_start=monday)
    setup(cluster, "a", annotations={"reloader.stakater.com/reload-window": "09:00-17:00"})
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    async with h.running():
        await h.settle()
        final = change(cluster, "a", "2")
        await h.settle()
        assert patches(cluster, "a") == 1
        assert requeued_after(h.results(key("a"))[-1]) == 60.0
        await h.until(lambda: bool(cluster.events(reason="ReloadHeld", name="a")))
        assert "outside the reload window" in cluster.events(reason="ReloadHeld")[0]["message"]
        assert h.sample("reloader_held_reloads", reason="window") == 1
        await h.advance(59)
        assert patches(cluster, "a") == 1
        await h.advance(1)
        assert patches(cluster, "a") == 2
        assert h.sample("reloader_held_reloads", reason="window") == 0
    assert env_of(cluster.get(DEPLOYMENTS, NS, "a"))[ENV_A] == final


async def test_pause_period_pauses_with_the_reload_and_resumes_when_it_has_passed(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    setup(cluster, "a", annotations={"deployment.reloader.stakater.com/pause-period": "30s"})
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    async with h.running():
        await h.settle()
        final = change(cluster, "a", "2")
        await h.settle()
        paused = cluster.get(DEPLOYMENTS, NS, "a")
        assert patches(cluster, "a") == 2, "the reload and the pause: one write"
        assert paused["spec"]["paused"] is True
        assert env_of(paused)[ENV_A] == final
        assert paused["metadata"]["annotations"][PAUSED_AT] == "2023-11-14T22:13:20Z"
        assert requeued_after(h.results(key("a"))[-1]) == 30.0
        await h.advance(29)
        assert patches(cluster, "a") == 2
        await h.advance(1)
        assert patches(cluster, "a") == 3
        await h.until(lambda: bool(cluster.events(reason="Resumed", name="a")))
    resumed = cluster.get(DEPLOYMENTS, NS, "a")
    assert resumed["spec"]["paused"] is False
    assert PAUSED_AT not in resumed["metadata"]["annotations"]
    assert env_of(resumed)[ENV_A] == final
    assert len(cluster.events(reason="Paused", name="a")) == 1


async def test_the_source_informers_are_created_first_then_one_per_watched_workload_kind(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    harness = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    assert harness.reload is not None
    created = [next(iter(s.members.values())).kind for s in harness.scope.informer_sets]
    workload_kinds = [kind.kind for kind in reload_kinds(harness.reload.settings)]
    assert created == ["ConfigMap", "Secret", *workload_kinds]
    assert list(harness.reload.workloads) == workload_kinds


def _waved(name: str, version: int, state: str | None) -> WorkloadView:
    """The cached view of Deployment ``name`` using ConfigMap ``cfg``, rolled in a wave for
    its hash ``h`` (its record in ``state``; None: not rolled yet)."""
    annotations = dict(AUTO)
    if state is not None:
        record = {"changes": {"configmap/cfg": "h"}, "at": 1_700_000_000, "state": state}
        annotations[WAVE] = json.dumps(record)
    obj = deployment(name, configmap="cfg", annotations=annotations)
    obj["metadata"]["resourceVersion"] = str(version)
    return summarize_workload(KINDS["Deployment"], obj)


async def test_a_healthy_verdict_wakes_the_waiting_targets_once_none_still_rolls(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    """Every waiting target waits while any rolled one rolls: the last verdict of a wave wakes
    them, not each one (a failed verdict does at once: the halt is reported)."""
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    assert h.reload is not None
    cache, queue = h.reload.workloads["Deployment"], h.reload.queue
    healthy = _waved("a", 1, "healthy")
    for view in (healthy, _waved("b", 1, "rolling"), _waved("c", 1, None)):
        cache.upsert(view, notify=False)
    h.reload.handlers.wake_wave_peers(healthy)
    assert key("c") not in queue  # b still rolls: c's wave has not come
    failed = _waved("b", 2, "failed")
    cache.upsert(failed, notify=False)
    h.reload.handlers.wake_wave_peers(failed)
    assert key("c") in queue  # halted: told so


async def test_the_last_healthy_verdict_of_a_wave_wakes_its_waiting_targets(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings())
    assert h.reload is not None
    cache, queue = h.reload.workloads["Deployment"], h.reload.queue
    last = _waved("b", 2, "healthy")
    for view in (_waved("a", 1, "healthy"), last, _waved("c", 1, None)):
        cache.upsert(view, notify=False)
    h.reload.handlers.wake_wave_peers(last)
    assert key("c") in queue
