"""`reloader node-agent`: the slot is renewed while the agent works, and losing it aborts.

The renewal runs beside the drain (and beside ``--lock-release-delay`` after a reboot); a slot
that another writer took must stop the drain and give the node back, not reboot it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import LEASES
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import coordination as rules
from tests.integration.node_agent_support import Fleet, fleet, unevictable
from tests.integration.support import ClusterInfo, eventually, running_pods

pytestmark = pytest.mark.timeout(120)


async def _slot_of(f: Fleet, holder: str) -> dict[str, Any] | None:
    page = await resources.list_page(f.kube, LEASES, namespace=f.namespace)
    return next(
        (i for i in page["items"] if (i.get("spec") or {}).get("holderIdentity") == holder), None
    )


async def test_slot_taken_while_draining_aborts_and_gives_the_node_back(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        await unevictable(kube, namespace, f.group, "db")

        await eventually(lambda: running_pods(kube, namespace), timeout=30, what="db pod running")
        # no TTL: nobody may write the slot off, so only our own write below can take it
        agent = f.agent_for(node, ["--drain-timeout=100s", "--lock-ttl=0"])
        await agent.start_async()

        async def draining() -> bool:
            return bool(await f.events(node.name, "Draining"))

        await eventually(draining, timeout=30, what="Draining Event")
        slot = await _slot_of(f, node.name)
        assert slot is not None, "the draining node holds a slot"
        slot["spec"]["holderIdentity"] = "someone-else"
        name = slot["metadata"]["name"]
        await resources.replace(kube, LEASES, namespace=namespace, name=name, body=slot)

        async def lost() -> list[dict[str, Any]]:
            return await f.events(node.name, "RebootLockLost")

        # renewals come every 10 s without a TTL
        events = await eventually(lost, timeout=30, what="RebootLockLost Event")
        assert events[0]["type"] == "Warning"

        async def given_back() -> bool:
            view = rules.node_view(await f.node(node.name))
            return not view.unschedulable and view.record is None

        await eventually(given_back, timeout=10, what="node uncordoned, cordon record removed")
        assert node.reboots() == 0, "no reboot without the slot"
        assert await f.holders() == ["someone-else"], "the other holder's slot is left alone"
        assert agent.metric("reloader_node_reboots_total", {"result": "lock_lost"}) == 1
        assert agent.metric("reloader_node_reboot_lock_held", {"node": node.name}) == 0
        agent.kill()


async def test_release_delay_keeps_the_slot_renewed_after_the_node_is_back(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        # renewals every ttl/4 = 2 s, so the 8 s delay spans several of them
        agent = f.agent_for(node, ["--lock-ttl=8s", "--lock-release-delay=8s"])
        await agent.start_async()

        async def uncordoned() -> bool:
            return bool(await f.events(node.name, "Uncordoned"))

        await eventually(uncordoned, timeout=40, what="the node back and uncordoned")
        slot = await _slot_of(f, node.name)
        assert slot is not None, "the slot is still held during --lock-release-delay"
        phase = slot["metadata"]["annotations"][rules.LEASE_PHASE]
        assert phase == rules.Phase.RECOVERING
        first_renewal = slot["spec"]["renewTime"]

        async def renewed() -> bool:
            again = await _slot_of(f, node.name)
            return again is not None and again["spec"]["renewTime"] != first_renewal

        await eventually(renewed, timeout=10, what="a renewal during the delay")
        await eventually(
            lambda: _no_holder(f), timeout=20, what="the slot released after the delay"
        )
        assert node.reboots() == 1
        assert await f.events(node.name, "RebootLockReleased")


async def _no_holder(f: Fleet) -> bool:
    return not await f.holders()
