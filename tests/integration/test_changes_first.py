"""At start, a change made after the controller is ready rolls before the first-sight records.

Every workload seen for the first time gets its ``applied-hashes`` record written under the
write-rate limit, like every write. With ``--max-writes-per-second=2`` (bursts of 4), 40
Deployments seen for the first time take about 18 s of records; a change to the source of one
already recorded must not wait behind them: its workload rolls while most records are still
unwritten, and afterwards every record is written (none skipped). Asserted by reading the
objects, not by timing.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import DEPLOYMENTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import start_scoped
from tests.integration.reload_support import (
    applied_record,
    configmap_hash,
    get_workload,
    make_configmap,
    update_configmap,
    wait_env,
    wait_recorded,
)
from tests.integration.support import ClusterInfo, deployment, eventually

AUTO = {"reloader.stakater.com/auto": "true"}
NAMES = [f"w{i:02d}" for i in range(40)]  # listed, and so queued at start, in this order


def _uses(cm: str) -> list[dict[str, Any]]:
    return [{"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": cm}}]}]


async def _recorded(kube: KubeClient, ns: str) -> list[str]:
    page = await resources.list_page(kube, DEPLOYMENTS, namespace=ns)
    return sorted(d["metadata"]["name"] for d in page["items"] if applied_record(d))


async def test_a_change_rolls_while_most_first_sight_records_wait(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        for name in NAMES:
            tg.start_soon(make_configmap, kube, namespace, f"cfg-{name}", {"v": "1"})
            body = deployment(name, annotations=AUTO, containers=_uses(f"cfg-{name}"))
            tg.start_soon(
                partial(resources.create, kube, DEPLOYMENTS, namespace=namespace, body=body)
            )

    async def w00_rolled_out() -> bool:  # a change to it is then not held as flapping
        d = await get_workload(kube, namespace, "Deployment", "w00")
        status = d.get("status", {})
        observed = status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        return bool(observed and status.get("availableReplicas") == 1)

    await eventually(w00_rolled_out, timeout=60, what="w00 rolled out")
    proc = start_scoped(
        cluster.kubeconfig, tmp_path / "r.log", namespace, "--max-writes-per-second=2"
    )
    try:
        await wait_recorded(kube, namespace, "Deployment", "w00", "configmap/cfg-w00")
        await update_configmap(kube, namespace, "cfg-w00", {"v": "2"})
        want = configmap_hash({"v": "2"})
        await wait_env(kube, namespace, "Deployment", "w00", "STAKATER_CFG_W00_CONFIGMAP", want)
        recorded = await _recorded(kube, namespace)
        # the change waited for a worker and a token, not for the 36 records behind the burst
        assert len(recorded) <= len(NAMES) // 2, f"rolled only after these records: {recorded}"

        async def all_recorded() -> bool:
            return await _recorded(kube, namespace) == NAMES

        await eventually(all_recorded, timeout=120, what="every first-sight record written")
        w00 = await get_workload(kube, namespace, "Deployment", "w00")
        assert applied_record(w00) == {"configmap/cfg-w00": want}
        assert proc.metric("reloader_reload_executed_total", {"success": "true"}) == 1
    finally:
        assert proc.stop() == 0
