"""`reloader node-agent` with kured's node marks against the real cluster: the PreferNoSchedule
taint (--prefer-no-schedule-taint), the reboot annotations (--annotate-nodes), and the pre- and
post-reboot labels.

One agent process per fake node, as in test_node_agent.py; the fake reboot gives the Node a new
boot ID and removes the sentinel, and the test restarts the node's agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import LEASES
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.reboot.domain import coordination as rules
from reloader.reboot.domain import marks
from tests.integration.node_agent_support import TAINT, FakeNode, Fleet, fleet
from tests.integration.support import ClusterInfo, eventually

pytestmark = pytest.mark.timeout(120)

PENDING = "reloader-test/reboot-pending"
LOCK = "reloader-reboot-0"


def _taints(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return list((raw.get("spec") or {}).get("taints") or [])


def _pending(raw: dict[str, Any]) -> bool:
    return any(t["key"] == PENDING and t["effect"] == "PreferNoSchedule" for t in _taints(raw))


async def _done(f: Fleet, node: FakeNode) -> bool:
    """The node rebooted once, is back, uncordoned, unrecorded; the lock is free."""
    view = rules.node_view(await f.node(node.name))
    return (
        node.reboots() == 1
        and not node.sentinel.exists()
        and view.record is None
        and not view.unschedulable
        and not await f.holders()
    )


async def _pause_reboots(kube: KubeClient, namespace: str) -> None:
    """An operator's pause: a holder that is not a node in the only lock slot."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LOCK, "labels": {rules.LOCK_LABEL: "true"}},
        "spec": {"holderIdentity": "paused-by-ops"},
    }
    await resources.create(kube, LEASES, namespace=namespace, body=lease)


async def _resume_reboots(kube: KubeClient, namespace: str) -> None:
    await resources.patch(
        kube,
        LEASES,
        namespace=namespace,
        name=LOCK,
        body={"spec": {"holderIdentity": None}},
        patch_type="merge",
    )


async def test_taint_while_another_node_holds_the_lock_gone_after_the_reboot(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 2) as f:
        first, second = f.nodes
        # the first node holds the lock for a while (the delay between drain and reboot)
        args = ["--concurrency=1", "--lock-ttl=60s", f"--prefer-no-schedule-taint={PENDING}"]
        await f.agent_for(first, [*args, "--reboot-delay=6s"]).start_async()

        async def first_holds() -> bool:
            return await f.holders() == [first.name]

        await eventually(first_holds, timeout=20, what="the first node holds the lock")
        await f.agent_for(second, args).start_async()

        async def second_tainted_while_first_holds() -> bool:
            raw = await f.node(second.name)
            return _pending(raw) and await f.holders() == [first.name]

        await eventually(
            second_tainted_while_first_holds,
            timeout=20,
            interval=0.1,
            what="the waiting node tainted PreferNoSchedule while the other holds the lock",
        )
        raw = await f.node(second.name)
        assert {"key": TAINT, "value": f.group, "effect": "NoSchedule"} in _taints(raw), (
            "the node's other taints are kept"
        )
        assert not _pending(await f.node(first.name)), "the holder is not tainted"

        await eventually(lambda: _done(f, first), timeout=40, what="the first node rebooted")

        async def second_rebooted_untainted() -> bool:
            return await _done(f, second) and not _pending(await f.node(second.name))

        await eventually(
            second_rebooted_untainted, timeout=40, what="the second node rebooted, untainted"
        )
        raw = await f.node(second.name)
        assert [t["key"] for t in _taints(raw)] == [TAINT], "only our taint was removed"
        assert await f.events(second.name, "PreferNoScheduleTainted")
        assert await f.events(second.name, "PreferNoScheduleUntainted")
        assert second.agent is not None
        assert second.agent.logs("reboot.taint_removed")


def _annotations(raw: dict[str, Any]) -> dict[str, str]:
    return dict((raw.get("metadata") or {}).get("annotations") or {})


async def test_annotate_nodes_sets_and_clears(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        await _pause_reboots(kube, namespace)
        agent = f.agent_for(node, ["--annotate-nodes", "--lock-ttl=60s"])
        await agent.start_async()

        async def annotated() -> dict[str, str]:
            found = _annotations(await f.node(node.name))
            return found if marks.ANNOTATION_IN_PROGRESS in found else {}

        # a reboot is needed but held (the lock is paused): kured marks the node already
        found = await eventually(annotated, timeout=20, what="reboot annotations")
        stamp = found[marks.ANNOTATION_IN_PROGRESS]
        assert found[marks.ANNOTATION_MOST_RECENT] == stamp
        assert rules.parse_rfc3339(stamp) is not None, "RFC 3339"
        assert node.reboots() == 0
        assert await f.events(node.name, "RebootAnnotated")

        # the reboot is no longer needed (sentinel removed by hand): in-progress is cleared
        node.sentinel.unlink()

        async def cleared() -> dict[str, str]:
            found = _annotations(await f.node(node.name))
            return {} if marks.ANNOTATION_IN_PROGRESS in found else found or {"-": "-"}

        found = await eventually(cleared, timeout=20, what="in-progress cleared, not needed")
        assert found[marks.ANNOTATION_MOST_RECENT] == stamp, "most-recent stays"

        # needed again, and the lock is free: set again, then cleared once the node is back
        node.sentinel.touch()
        await eventually(annotated, timeout=20, what="annotations set again")
        await _resume_reboots(kube, namespace)
        await eventually(lambda: _done(f, node), timeout=40, what="rebooted")
        found = await eventually(cleared, timeout=20, what="in-progress cleared after the reboot")
        assert rules.parse_rfc3339(found[marks.ANNOTATION_MOST_RECENT]) is not None
        assert len(await f.events(node.name, "RebootAnnotationCleared")) >= 2


async def test_pre_labels_at_drain_and_post_labels_after_uncordon(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    async with fleet(kube, cluster.kubeconfig, namespace, tmp_path, 1) as f:
        node = f.nodes[0]
        agent = f.agent_for(
            node,
            [
                "--lock-ttl=60s",
                "--reboot-delay=3s",
                "--pre-reboot-node-labels=reloader-test/state=draining,reloader-test/pre=yes",
                "--post-reboot-node-labels=reloader-test/state=done",
            ],
        )
        await agent.start_async()

        async def labelled_while_cordoned() -> bool:
            raw = await f.node(node.name)
            labels = raw["metadata"].get("labels") or {}
            return (
                bool(raw["spec"].get("unschedulable"))
                and labels.get("reloader-test/state") == "draining"
                and labels.get("reloader-test/pre") == "yes"
            )

        await eventually(
            labelled_while_cordoned,
            timeout=20,
            interval=0.1,
            what="pre-reboot labels on the cordoned, draining node",
        )
        assert node.reboots() == 0

        async def post_labelled() -> bool:
            labels = (await f.node(node.name))["metadata"].get("labels") or {}
            return await _done(f, node) and labels.get("reloader-test/state") == "done"

        await eventually(post_labelled, timeout=40, what="post-reboot labels after the uncordon")
        labels = (await f.node(node.name))["metadata"]["labels"]
        assert labels["reloader-test/pre"] == "yes", "kured does not remove pre labels"
        assert labels["kubernetes.io/hostname"] == node.name, "other labels untouched"
        assert await f.events(node.name, "PreRebootLabels")
        assert await f.events(node.name, "PostRebootLabels")
