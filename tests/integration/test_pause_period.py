"""pause-period for Deployments, its state in the cluster (docs/compatibility.md#pause-period)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from reloader.core.objects import DEPLOYMENTS, EVENTS
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

CONTROLLER_ARGS: list[str] = []
PAUSE = "deployment.reloader.stakater.com/pause-period"
PAUSED_AT = "deployment.reloader.stakater.com/paused-at"
CONTAINERS = [{"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": "cfg"}}]}]


async def _setup(kube: KubeClient, ns: str, annotations: dict[str, str]) -> None:
    await make_configmap(kube, ns, "cfg", {"k": "v1"})
    await make_workload(
        kube,
        ns,
        "Deployment",
        "web",
        containers=CONTAINERS,
        annotations={"reloader.stakater.com/auto": "true", **annotations},
    )
    await wait_recorded(kube, ns, "Deployment", "web", "configmap/cfg")


def _paused(obj: dict[str, Any]) -> bool:
    return bool(obj["spec"].get("paused")) and PAUSED_AT in obj["metadata"]["annotations"]


async def test_reload_pauses_the_deployment_item_71(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _setup(kube, namespace, {PAUSE: "1h"})
    await update_configmap(kube, namespace, "cfg", {"k": "v2"})

    async def paused() -> dict[str, Any] | None:
        obj = await get_workload(kube, namespace, "Deployment", "web")
        return obj if _paused(obj) and stakater_env(obj) else None

    obj = await eventually(paused, timeout=15, what="paused with the new env var")
    assert obj is not None
    datetime.fromisoformat(obj["metadata"]["annotations"][PAUSED_AT])  # RFC 3339


async def test_no_pause_without_the_annotation_item_72(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _setup(kube, namespace, {})
    await update_configmap(kube, namespace, "cfg", {"k": "v2"})

    async def reloaded() -> dict[str, Any] | None:
        obj = await get_workload(kube, namespace, "Deployment", "web")
        return obj if stakater_env(obj) else None

    obj = await eventually(reloaded, timeout=15, what="reloaded")
    assert obj is not None
    assert not obj["spec"].get("paused")
    assert PAUSED_AT not in obj["metadata"]["annotations"]


async def test_invalid_pause_period_warns_and_still_reloads(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _setup(kube, namespace, {PAUSE: "ten minutes"})
    await update_configmap(kube, namespace, "cfg", {"k": "v2"})

    async def reloaded() -> dict[str, Any] | None:
        obj = await get_workload(kube, namespace, "Deployment", "web")
        return obj if stakater_env(obj) else None

    obj = await eventually(reloaded, timeout=15, what="reloaded despite the bad period")
    assert obj is not None
    assert not obj["spec"].get("paused")

    async def warning() -> list[dict[str, Any]]:
        page = await resources.list_page(kube, EVENTS, namespace=namespace)
        return [
            e
            for e in page["items"]
            if e["reason"] == "InvalidAnnotation"
            and e["type"] == "Warning"
            and PAUSE in e["message"]
            and "ten minutes" in e["message"]
        ]

    assert await eventually(warning, timeout=10, what="a Warning Event naming the annotation")


async def test_pause_survives_a_controller_restart_and_resumes_on_time(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """Reloader keeps pause timers in memory (issues #1016, #1219); ours are in the object."""
    first = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "a.log",
        args=[f"--namespaces={namespace}"],
    )
    first.start()
    try:
        await _setup(kube, namespace, {PAUSE: "6s"})
        await update_configmap(kube, namespace, "cfg", {"k": "v2"})

        async def paused() -> dict[str, Any] | None:
            obj = await get_workload(kube, namespace, "Deployment", "web")
            return obj if _paused(obj) else None

        obj = await eventually(paused, timeout=15, what="paused")
        assert obj is not None
    finally:
        assert first.stop() == 0
    deadline = datetime.fromisoformat(obj["metadata"]["annotations"][PAUSED_AT]).timestamp() + 6

    second = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path / "b.log",
        args=[f"--namespaces={namespace}"],
    )
    second.start()
    try:

        async def resumed() -> bool:
            current = await resources.get(kube, DEPLOYMENTS, namespace=namespace, name="web")
            return not current["spec"].get("paused") and PAUSED_AT not in (
                current["metadata"].get("annotations") or {}
            )

        await eventually(resumed, timeout=20, interval=0.05, what="resumed after the restart")
        resumed_at = time.time()
    finally:
        assert second.stop() == 0
    # paused-at has second precision: the deadline is known to within 1 s
    assert deadline - 1.0 <= resumed_at <= deadline + 1.5, (deadline, resumed_at)
