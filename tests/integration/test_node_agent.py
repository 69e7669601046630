"""`reloader node-agent` against the real cluster: lock, drain, reboot, recovery.

One agent process per fake node, as a DaemonSet would run them. The reboot command
(``tests/integration/fake_reboot.py``) gives the Node a new boot ID and removes the sentinel;
the test then restarts that node's agent (SIGKILL + start), as the reboot would.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from reloader.core.objects import DEPLOYMENTS, NODES, PODS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import coordination as rules
from tests.integration.node_agent_support import (
    CordonWatch,
    Fleet,
    fleet,
    pinned_deployment,
    unevictable,
)
from tests.integration.receiver import receiver
from tests.integration.support import ClusterInfo, eventually, running_pods

pytestmark = pytest.mark.timeout(120)


async def _settled(f: Fleet) -> bool:
    """Every node rebooted once, back, uncordoned, unrecorded; no lock held."""
    for node in f.nodes:
        raw = await f.node(node.name)
        view = rules.node_view(raw)
        if node.sentinel.exists() or view.unschedulable or view.record is not None:
            return False
    return not await f.holders()


async def test_three_nodes_reboot_one_at_a_time(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 3) as f:
        await resources.create(
            kube,
            DEPLOYMENTS,
            namespace=namespace,
            body=pinned_deployment("web", f.group, replicas=3),
        )

        async def pods_running() -> bool:
            return len(await running_pods(kube, namespace)) == 3

        await eventually(pods_running, timeout=30, what="3 pods running")
        boots = {n.name: rules.node_view(await f.node(n.name)).boot_id for n in f.nodes}
        watch = CordonWatch(f)
        with receiver() as hook:
            url = hook.url.replace("http://", "generic+http://")
            args = ["--concurrency=1", "--lock-ttl=60s", f"--notify-url={url}"]
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch.run)
                await f.start(*(f.agent_for(node, args) for node in f.nodes))
                await eventually(lambda: _settled(f), timeout=90, interval=0.2, what="all rebooted")
                tg.cancel_scope.cancel()

            expected = sorted((e, n.name) for e in ("drain", "reboot", "uncordon") for n in f.nodes)

            async def notified() -> bool:
                bodies = [json.loads(r.body) for r in hook.requests]
                return sorted((b["event"], b["node"]) for b in bodies) == expected

            await eventually(notified, timeout=10, what="drain, reboot, uncordon notifications")
            texts = {json.loads(r.body)["text"] for r in hook.requests}
            assert f"Rebooting node {f.nodes[0].name}" in texts

        assert watch.max == 1, "never two nodes cordoned at once"
        assert watch.seen == {n.name for n in f.nodes}, "each node was cordoned for its reboot"
        for node in f.nodes:
            assert node.reboots() == 1
            view = rules.node_view(await f.node(node.name))
            assert view.boot_id != boots[node.name], "the fake reboot gave a new boot ID"
            assert view.loop_history == ()
            for reason in ("Cordoned", "Drained", "Rebooting", "Rebooted", "Uncordoned"):
                assert await f.events(node.name, reason), f"{reason} Event on {node.name}"
            assert node.agent is not None
            assert node.agent.metric("reloader_node_reboots_total", {"result": "success"}) == 1
            assert node.agent.metric("kured_reboot_required", {"node": node.name}) == 0
        page = await resources.list_page(kube, PODS, namespace=namespace)
        assert len(page["items"]) == 3, "evicted pods were replaced"


async def test_pdb_blocks_drain_then_lock_released_and_node_uncordoned(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        await unevictable(kube, namespace, f.group, "db")

        before = await eventually(
            lambda: running_pods(kube, namespace), timeout=30, what="db pod running"
        )
        agent = f.agent_for(node, ["--drain-timeout=3s", "--lock-ttl=60s"])
        await agent.start_async()

        async def drain_failed() -> bool:
            return bool(await f.events(node.name, "DrainFailed"))

        await eventually(drain_failed, timeout=30, what="DrainFailed Event")

        async def restored() -> bool:
            view = rules.node_view(await f.node(node.name))
            return not view.unschedulable and view.record is None and not await f.holders()

        await eventually(restored, timeout=10, what="node uncordoned and lock released")
        assert node.reboots() == 0, "no reboot after a failed drain"
        assert await running_pods(kube, namespace) == before, "the PDB kept the pod"
        refusals = agent.logs("reboot.eviction_refused")
        assert refusals, "the API server refused evictions (429)"
        assert len(refusals) < 8, "refused evictions back off instead of looping"
        assert agent.metric("reloader_node_reboots_total", {"result": "drain_failed"}) >= 1
        agent.kill()


async def test_admin_cordoned_node_stays_cordoned_after_reboot(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        await resources.patch(
            kube, NODES, namespace=None, name=node.name,
            body={"spec": {"unschedulable": True}}, patch_type="merge",
        )  # fmt: skip
        agent = f.agent_for(node, ["--lock-ttl=60s"])
        await agent.start_async()

        async def rebooted_and_done() -> bool:
            view = rules.node_view(await f.node(node.name))
            return node.reboots() == 1 and view.record is None and not await f.holders()

        await eventually(rebooted_and_done, timeout=30, what="reboot finished")
        assert rules.node_view(await f.node(node.name)).unschedulable, "the admin's cordon stays"
        assert not await f.events(node.name, "Uncordoned")


async def test_dead_holder_is_written_off_after_lock_ttl(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 2) as f:
        dead, alive = f.nodes
        args = ["--concurrency=1", "--lock-ttl=4s"]
        # the dead node's "reboot" never brings it back: no new boot ID, its agent stays down
        dead.comes_back = False
        dead_agent = f.agent_for(dead, args, reboot_extra=("--no-boot",))
        await dead_agent.start_async()
        await eventually(lambda: _reboot_issued(f, 0), timeout=30, what="first reboot issued")
        dead_agent.kill()
        assert await f.holders() == [dead.name]
        assert await f.cordoned() == [dead.name]

        await f.agent_for(alive, args).start_async()

        async def alive_done() -> bool:
            view = rules.node_view(await f.node(alive.name))
            return alive.reboots() == 1 and not view.unschedulable and not await f.holders()

        await eventually(alive_done, timeout=40, what="the other node rebooted")
        assert await f.cordoned() == [dead.name], "the dead node is left cordoned"
        warnings = await f.events(dead.name, "RebootLockExpired")
        assert warnings, "a Warning Event on the dead node"
        assert warnings[0]["type"] == "Warning"
        assert alive.agent is not None
        assert alive.agent.logs("reboot.lock_expired"), "the survivor logged the write-off"


async def _reboot_issued(f: Fleet, index: int) -> bool:
    return f.nodes[index].reboots() >= 1


async def test_sentinel_that_survives_reboots_stops_after_limit(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        f.agent_for(
            node, ["--reboot-loop-limit=2", "--lock-ttl=60s"], reboot_extra=("--keep-sentinel",)
        )
        assert node.agent is not None
        await node.agent.start_async()

        async def stopped() -> bool:
            return bool(await f.events(node.name, "RebootLoopStopped"))

        await eventually(stopped, timeout=45, what="RebootLoopStopped Event")
        view = rules.node_view(await f.node(node.name))
        assert node.reboots() == 2
        assert len(view.loop_history) == 2
        assert not view.unschedulable
        assert not await f.holders()
        event = (await f.events(node.name, "RebootLoopStopped"))[0]
        assert event["type"] == "Warning"

        async def gauge() -> bool:
            assert node.agent is not None
            return node.agent.metric("reloader_node_reboot_loop_stopped", {"node": node.name}) == 1

        await eventually(gauge, timeout=10, what="loop-stopped gauge")
