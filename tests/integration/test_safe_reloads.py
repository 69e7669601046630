"""Safe reloads at scale: rollout limits, flapping protection, windows, key filters."""

from __future__ import annotations

import hashlib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import DEPLOYMENTS, ResourceType
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess, start_scoped
from tests.integration.reload_support import (
    WAVE_RECORD,
    WAVE_VERDICTS,
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    update_configmap,
    wait_recorded,
)
from tests.integration.support import ClusterInfo, deployment, eventually, running_pods

AUTO = {"reloader.stakater.com/auto": "true"}
REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet")
QUOTAS = ResourceType("", "v1", "resourcequotas", "ResourceQuota")


def _start(cluster: ClusterInfo, tmp_path: Path, ns: str, *args: str) -> ControllerProcess:
    return start_scoped(cluster.kubeconfig, tmp_path / "r.log", ns, *args)


async def _kick_replicasets(kube: KubeClient, namespace: str) -> None:
    """An update event makes the ReplicaSet controller sync at once (after refused creates it
    would wait out its backoff)."""
    for rs in (await resources.list_page(kube, REPLICASETS, namespace=namespace))["items"]:
        await resources.patch(
            kube, REPLICASETS, namespace=namespace, name=rs["metadata"]["name"],
            body={"metadata": {"annotations": {"test/kick": str(time.monotonic())}}},
            patch_type="merge",
        )  # fmt: skip


def _uses(cm: str) -> list[dict[str, Any]]:
    return [{"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": cm}}]}]


def _in_progress(d: dict[str, Any], want: str, var: str = "STAKATER_SHARED_CONFIGMAP") -> bool:
    """Rolled by us to ``want`` (in env var ``var``) but not yet complete (what the limit
    counts)."""
    env = stakater_env(d)
    status, spec = d.get("status", {}), d["spec"]
    done = (
        status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) >= spec["replicas"]
        and status.get("availableReplicas", 0) >= spec["replicas"]
        and status.get("replicas", 0) <= status.get("updatedReplicas", 0)
    )
    return env.get(var) == want and not done


def _has_verdict(d: dict[str, Any]) -> bool:
    """The workload's wave record holds a verdict (written once its rollout was healthy)."""
    record = d["metadata"].get("annotations", {}).get(WAVE_RECORD, "")
    return any(verdict in record for verdict in WAVE_VERDICTS)


async def test_fan_out_never_exceeds_the_rollout_limit(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    count, limit = 50, 5
    await make_configmap(kube, namespace, "shared", {"v": "1"})
    for i in range(count):
        body = deployment(f"web-{i}", annotations=AUTO, containers=_uses("shared"))
        body["spec"]["minReadySeconds"] = 1  # each rollout lasts a moment, so overlap is visible
        await resources.create(kube, DEPLOYMENTS, namespace=namespace, body=body)
    proc = _start(cluster, tmp_path, namespace, f"--max-rollouts-in-progress={limit}")
    try:
        for i in range(count):
            await wait_recorded(kube, namespace, "Deployment", f"web-{i}", "configmap/shared")
        want = hashlib.sha1(b"v=2").hexdigest()
        await update_configmap(kube, namespace, "shared", {"v": "2"})
        peak = 0
        # a Deployment whose rollout to ``want`` was seen complete, or that has its wave's
        # verdict, is done: the verdict, a metadata write, bumps its generation again for a
        # moment (docs/waves.md), which is no rollout; and it may be written between two of
        # these reads, before the rollout was seen complete (the controller's log said 5 at
        # most when the test counted 6 that way)
        done: set[str] = set()
        with anyio.fail_after(180):
            while len(done) < count:
                items = (await resources.list_page(kube, DEPLOYMENTS, namespace=namespace))["items"]
                done |= {
                    d["metadata"]["name"]
                    for d in items
                    if stakater_env(d).get("STAKATER_SHARED_CONFIGMAP") == want
                    and (not _in_progress(d, want) or _has_verdict(d))
                }
                rolling = {d["metadata"]["name"] for d in items if _in_progress(d, want)} - done
                peak = max(peak, len(rolling))
                await anyio.sleep(0.05)
        assert 1 <= peak <= limit, f"peak rollouts in progress: {peak}"
        assert proc.metric("reloader_reloads_held_total", {"reason": "limit"}) > 0
    finally:
        assert proc.stop() == 0


async def test_a_restarted_controller_counts_the_rollout_the_previous_one_started(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """The limit holds across a restart: a rollout under way still takes its slot."""
    for name in ("slow", "next"):
        await make_configmap(kube, namespace, f"{name}-cfg", {"v": "1"})
        await make_workload(
            kube, namespace, "Deployment", name, containers=_uses(f"{name}-cfg"), annotations=AUTO
        )
    limit = "--max-rollouts-in-progress=1"
    first = _start(cluster, tmp_path, namespace, limit)
    try:
        for name in ("slow", "next"):
            await wait_recorded(kube, namespace, "Deployment", name, f"configmap/{name}-cfg")

        async def both_running() -> bool:
            return len(await running_pods(kube, namespace)) == 2

        await eventually(both_running, timeout=30, what="both pods running")
        # no room for a surge pod: the next rollout stays under way until the quota goes
        quota = {"metadata": {"name": "no-surge"}, "spec": {"hard": {"pods": "2"}}}
        await resources.create(kube, QUOTAS, namespace=namespace, body=quota)
        await update_configmap(kube, namespace, "slow-cfg", {"v": "2"})
        want = hashlib.sha1(b"v=2").hexdigest()

        async def slow_rolling() -> bool:
            slow = await get_workload(kube, namespace, "Deployment", "slow")
            return _in_progress(slow, want, "STAKATER_SLOW_CFG_CONFIGMAP")

        await eventually(slow_rolling, timeout=15, what="the first controller rolling slow")
    finally:
        assert first.stop() == 0
    second = _start(cluster, tmp_path, namespace, limit)
    try:
        await update_configmap(kube, namespace, "next-cfg", {"v": "2"})

        async def held() -> bool:
            return second.metric("reloader_reloads_held_total", {"reason": "limit"}) > 0

        await eventually(held, timeout=20, what="next held by the limit")
        assert await slow_rolling(), "held while slow's rollout is under way"
        assert stakater_env(await get_workload(kube, namespace, "Deployment", "next")) == {}
        await resources.delete(kube, QUOTAS, namespace=namespace, name="no-surge")
        await _kick_replicasets(kube, namespace)  # retry the refused pod creates now

        async def next_rolled() -> dict[str, str]:
            return stakater_env(await get_workload(kube, namespace, "Deployment", "next"))

        env = await eventually(next_rolled, timeout=90, what="next rolled once slow completed")
        assert env == {"STAKATER_NEXT_CFG_CONFIGMAP": want}
        assert not await slow_rolling()
    finally:
        assert second.stop() == 0


async def test_a_flapping_source_rolls_each_workload_at_most_twice(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "flappy", {"v": "0"})
    for i in range(3):
        body = deployment(f"web-{i}", annotations=AUTO, containers=_uses("flappy"))
        body["spec"]["minReadySeconds"] = 3  # pods take 3 s to count as available
        await resources.create(kube, DEPLOYMENTS, namespace=namespace, body=body)
    proc = _start(cluster, tmp_path, namespace)
    try:
        for i in range(3):
            await wait_recorded(kube, namespace, "Deployment", f"web-{i}", "configmap/flappy")

        async def settled() -> bool:  # the initial rollouts are complete
            items = (await resources.list_page(kube, DEPLOYMENTS, namespace=namespace))["items"]
            return all(d.get("status", {}).get("availableReplicas") == 1 for d in items)

        await eventually(settled, timeout=30, what="initial rollouts complete")
        for n in range(1, 21):
            await update_configmap(kube, namespace, "flappy", {"v": str(n)})
            await anyio.sleep(0.5)
        want = hashlib.sha1(b"v=20").hexdigest()
        for i in range(3):

            async def final(i: int = i) -> bool:
                obj = await get_workload(kube, namespace, "Deployment", f"web-{i}")
                return stakater_env(obj).get("STAKATER_FLAPPY_CONFIGMAP") == want

            await eventually(final, timeout=60, what=f"web-{i} with the final content")
        for i in range(3):
            rs = [
                r
                for r in (await resources.list_page(kube, REPLICASETS, namespace=namespace))[
                    "items"
                ]
                if r["metadata"]["name"].startswith(f"web-{i}-")
            ]
            # the initial ReplicaSet plus at most two rollouts for the twenty changes
            assert 2 <= len(rs) <= 3, [r["metadata"]["name"] for r in rs]
        assert proc.metric("reloader_reloads_held_total", {"reason": "flapping"}) > 0
    finally:
        assert proc.stop() == 0


async def test_a_change_right_after_adoption_is_not_held_as_flapping(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """Recording the applied hashes on a Deployment bumps its generation (annotation changes
    do), and until the Deployment controller observes that generation, ``kubectl rollout
    status`` would wait. The bump carries no new pod template, so it is no rollout: a change
    arriving in that moment rolls at once instead of waiting ``--flapping-max-wait``. With
    kube-controller-manager stopped, the moment lasts as long as the test needs."""
    assert cluster.bin_dir is not None, "needs the local control plane (tools/cluster)"
    local_cluster = sys.modules["cluster"]  # tools/cluster/cluster.py, imported by conftest.py
    directory = cluster.kubeconfig.parent
    await make_configmap(kube, namespace, "cfg", {"v": "1"})
    body = deployment("web", annotations=AUTO, containers=_uses("cfg"))
    await resources.create(kube, DEPLOYMENTS, namespace=namespace, body=body)

    async def rolled_out() -> bool:
        d = await get_workload(kube, namespace, "Deployment", "web")
        status = d.get("status", {})
        observed = status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        return bool(observed and status.get("availableReplicas") == 1)

    await eventually(rolled_out, timeout=60, what="web rolled out")
    kcm_args = local_cluster.stop_process(directory, "kube-controller-manager")
    proc = None
    try:
        proc = _start(cluster, tmp_path, namespace, "--flapping-max-wait=10m")
        await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
        adopted = await get_workload(kube, namespace, "Deployment", "web")
        assert adopted["status"]["observedGeneration"] < adopted["metadata"]["generation"], (
            "the record's write bumped the generation, and nothing has observed it"
        )
        await update_configmap(kube, namespace, "cfg", {"v": "2"})
        want = hashlib.sha1(b"v=2").hexdigest()

        async def rolled() -> bool:
            obj = await get_workload(kube, namespace, "Deployment", "web")
            return stakater_env(obj).get("STAKATER_CFG_CONFIGMAP") == want

        await eventually(rolled, timeout=30, what="web rolled with the change, not held")
        assert proc.metric("reloader_reloads_held_total", {"reason": "flapping"}) == 0
    finally:
        if proc is not None:
            assert proc.stop() == 0
        local_cluster.start_process(directory, "kube-controller-manager", kcm_args)


async def test_a_closed_window_holds_the_reload_until_it_opens(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    closed = f"{(now + timedelta(hours=2)):%H:%M}-{(now + timedelta(hours=3)):%H:%M}"
    await make_configmap(kube, namespace, "cfg", {"v": "1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        containers=_uses("cfg"),
        annotations={**AUTO, "reloader.stakater.com/reload-window": closed},
    )
    proc = _start(cluster, tmp_path, namespace)
    try:
        await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
        await update_configmap(kube, namespace, "cfg", {"v": "2"})

        async def held() -> bool:
            return proc.metric("reloader_held_reloads", {"reason": "window"}) == 1

        await eventually(held, timeout=15, what="the reload held by the window")
        assert stakater_env(await get_workload(kube, namespace, "Deployment", "web")) == {}
        opened = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
        await resources.patch(
            kube,
            DEPLOYMENTS,
            namespace=namespace,
            name="web",
            patch_type="merge",
            body={"metadata": {"annotations": {"reloader.stakater.com/reload-window": opened}}},
        )

        async def applied() -> dict[str, str]:
            return stakater_env(await get_workload(kube, namespace, "Deployment", "web"))

        env = await eventually(applied, timeout=15, what="the held reload applied")
        assert env == {"STAKATER_CFG_CONFIGMAP": hashlib.sha1(b"v=2").hexdigest()}
        assert len(proc.logs("workload.reloaded")) == 1
    finally:
        assert proc.stop() == 0


async def test_only_declared_keys_roll_the_workload(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    await make_configmap(kube, namespace, "cfg", {"log-level": "info", "banner": "hi"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        containers=_uses("cfg"),
        annotations={**AUTO, "reloader.stakater.com/reload-keys": "configmap/cfg=log-level"},
    )
    proc = _start(cluster, tmp_path, namespace)
    try:
        await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
        done_before = len(proc.logs("reconcile.done"))
        await update_configmap(kube, namespace, "cfg", {"banner": "hello"})

        async def processed() -> bool:
            return len(proc.logs("reconcile.done")) > done_before

        await eventually(processed, timeout=15, what="the banner change processed")
        assert stakater_env(await get_workload(kube, namespace, "Deployment", "web")) == {}
        await update_configmap(kube, namespace, "cfg", {"log-level": "debug"})

        async def rolled() -> dict[str, str]:
            return stakater_env(await get_workload(kube, namespace, "Deployment", "web"))

        env = await eventually(rolled, timeout=15, what="a rollout for the declared key")
        # the env var keeps Reloader's hash of the whole ConfigMap
        full = hashlib.sha1(b"banner=hello;log-level=debug").hexdigest()
        assert env == {"STAKATER_CFG_CONFIGMAP": full}
        assert len(proc.logs("workload.reloaded")) == 1
    finally:
        assert proc.stop() == 0
