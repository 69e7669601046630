"""High availability: one active replica elected on a Lease; a clean handover on SIGTERM."""

from __future__ import annotations

import hashlib
import os
import random
import time
from datetime import datetime
from pathlib import Path

import anyio

from reloader.core.objects import LEASES
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    update_configmap,
    wait_recorded,
)
from tests.integration.support import ClusterInfo, eventually

WORKLOADS = 5


def _replica(cluster: ClusterInfo, tmp_path: Path, ns: str, name: str) -> ControllerProcess:
    os.environ.update(POD_NAME=name, POD_NAMESPACE=ns)
    try:
        proc = ControllerProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=tmp_path / f"{name}.log",
            args=[f"--namespaces={ns}", "--enable-ha=true"],
        )
        proc.start()
    finally:
        del os.environ["POD_NAME"], os.environ["POD_NAMESPACE"]
    return proc


def _acquired_at(proc: ControllerProcess) -> float | None:
    lines = proc.logs("leader.acquired")
    return datetime.fromisoformat(lines[0]["timestamp"]).timestamp() if lines else None


async def test_leader_killed_during_a_burst_hands_over_and_loses_nothing(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    first = _replica(cluster, tmp_path, namespace, "replica-a")
    await eventually(lambda: _async(_acquired_at(first)), timeout=15, what="a leader")
    second = _replica(cluster, tmp_path, namespace, "replica-b")
    try:
        lease = await resources.get(
            kube, LEASES, namespace=namespace, name="stakater-reloader-lock"
        )
        assert lease["spec"]["holderIdentity"] == "replica-a"
        assert second.metric("reloader_is_leader") == 0
        assert first.metric("reloader_is_leader") == 1
        for i in range(WORKLOADS):
            await make_configmap(kube, namespace, f"cfg-{i}", {"v": "0"})
            await make_workload(
                kube,
                namespace,
                "Deployment",
                f"web-{i}",
                annotations={"reloader.stakater.com/auto": "true"},
                containers=[
                    {
                        "name": "app",
                        "image": "x",
                        "envFrom": [{"configMapRef": {"name": f"cfg-{i}"}}],
                    }
                ],
            )
        for i in range(WORKLOADS):
            await wait_recorded(kube, namespace, "Deployment", f"web-{i}", f"configmap/cfg-{i}")

        final: dict[int, str] = {}
        rng = random.Random(7)
        stopped_at = 0.0
        for n in range(1, 61):
            i = rng.randrange(WORKLOADS)
            await update_configmap(kube, namespace, f"cfg-{i}", {"v": str(n)})
            final[i] = str(n)
            if n == 20:
                stopped_at = time.time()  # from the SIGTERM on
                assert first.stop() == 0  # stops its workers, releases the Lease, exits 0
            await anyio.sleep(0.05)

        taken = await eventually(
            lambda: _async(_acquired_at(second)), timeout=10, what="the standby to take over"
        )
        assert taken is not None
        assert taken - stopped_at < 5.0, f"takeover took {taken - stopped_at:.1f}s"
        lease = await resources.get(
            kube, LEASES, namespace=namespace, name="stakater-reloader-lock"
        )
        assert lease["spec"]["holderIdentity"] == "replica-b"
        assert lease["spec"]["leaseTransitions"] >= 1
        for i, value in final.items():
            want = hashlib.sha1(f"v={value}".encode()).hexdigest()

            async def latest(i: int = i, want: str = want) -> bool:
                env = stakater_env(await get_workload(kube, namespace, "Deployment", f"web-{i}"))
                return env.get(f"STAKATER_CFG_{i}_CONFIGMAP") == want

            await eventually(latest, timeout=20, what=f"web-{i} to carry the last update")
        assert first.logs("leader.released"), "the old leader released the Lease on SIGTERM"
    finally:
        if first.proc is not None:
            first.stop()
        assert second.stop() == 0


async def _async(value: float | None) -> float | None:
    return value
