"""At start, a change goes ahead of the first-sight records still waiting for the write limit.

Every workload seen for the first time gets its ``applied-hashes`` record written, under the
write-rate limit like every write; a change made meanwhile is queued in the work queue's urgent
lane and its rollout takes the next token before the records (docs/design/level-triggered.md).
Written here at one write per second of the fake clock, with two workers: both wait for a token
for a record when the change comes in.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS
from reloader.reload.domain.hashing import source_hash
from reloader.settings import ReloadSettings, SafetySettings, Settings
from tests.unit.controllers.builders import NS, configmap, deployment, env_of
from tests.unit.controllers.harness import Harness

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.runtime.clock import FakeClock
    from tests.unit.controllers.fake_cluster import FakeCluster

APPLIED = "reloader.stakater.com/applied-hashes"
NAMES = [f"w{i}" for i in range(8)]


def recorded(cluster: FakeCluster, name: str) -> bool:
    return APPLIED in cluster.get(DEPLOYMENTS, NS, name)["metadata"].get("annotations", {})


def written(cluster: FakeCluster) -> int:
    return sum(cluster.writes(DEPLOYMENTS, NS, name) for name in NAMES)


async def test_a_change_rolls_before_the_first_sight_records_waiting_for_the_limit(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock
) -> None:
    for name in NAMES:
        cluster.put(CONFIGMAPS, configmap(f"cfg-{name}", {"k": "1"}))
        annotations = {"reloader.stakater.com/auto": "true"}
        cluster.put(DEPLOYMENTS, deployment(name, configmap=f"cfg-{name}", annotations=annotations))
    settings = Settings(
        reload=ReloadSettings(debounce_seconds=0.0),
        safety=replace(SafetySettings(), writes_per_second=1.0, write_burst=1),
    )
    h = Harness(cluster=cluster, client=client, clock=clock, settings=settings)
    assert h.reload is not None
    queue, limiter = h.reload.queue, h.reload.pipeline.writes
    async with h.running(workers=2):
        await h.until(lambda: recorded(cluster, "w0"))  # the burst's one token
        await h.until(lambda: limiter.waiting == 2)  # both workers wait to write a record
        obj = cluster.modify(CONFIGMAPS, NS, "cfg-w0", lambda cm: cm.update(data={"k": "2"}))
        await h.until(lambda: queue.urgent_depth == 1)
        for _ in range(len(NAMES)):  # one token per second
            before = written(cluster)

            def next_write_made(before: int = before) -> bool:
                # the token's write is made, and its worker has taken the next key to the line
                return written(cluster) > before and (limiter.waiting == 2 or not queue.depth)

            clock.advance(1.0)
            await h.until(next_write_made)
            if env_of(cluster.get(DEPLOYMENTS, NS, "w0")).get("STAKATER_CFG_W0_CONFIGMAP"):
                break
        unrecorded = [name for name in NAMES if not recorded(cluster, name)]
    assert env_of(cluster.get(DEPLOYMENTS, NS, "w0"))["STAKATER_CFG_W0_CONFIGMAP"] == (
        source_hash(SourceKind.CONFIGMAP, obj)
    )
    # the token after the change went to w1's record (both workers were busy, w0 still queued);
    # the next one to w0's rollout, ahead of w2's record that had waited since the start
    assert unrecorded == NAMES[2:]
