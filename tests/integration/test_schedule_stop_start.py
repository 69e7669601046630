"""Stop-start restarts: scale to zero with the count recorded, wait for the pods, scale back;
and a controller killed while the workload is at zero still ends scaled back up.

The pods are held in Terminating by a finalizer the test owns, so the controller is reliably
caught *between* the two writes: it has scaled to zero and waits for the pods. Then it is killed
with SIGKILL, the finalizer removed, and a new controller started: it reads the recorded count
from the workload and finishes.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from reloader.core.objects import DEPLOYMENTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.schedule_support import (
    LAST,
    METHOD,
    STOP_START,
    annotations_of,
    create,
    events,
    get,
    manifest,
    past_slot,
    pods,
    rfc3339,
    set_finalizers,
    start_controller,
    wait_event,
)
from tests.integration.support import ClusterInfo, eventually

HOLD = "reloader.test/hold"


async def _available(kube: KubeClient, ns: str, name: str, replicas: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await get(kube, ns, "Deployment", name)
        status = obj.get("status") or {}
        ok = obj["spec"]["replicas"] == replicas and status.get("availableReplicas") == replicas
        return obj if ok and status.get("updatedReplicas") == replicas else None

    obj = await eventually(probe, timeout=30, what=f"{name} with {replicas} available replicas")
    assert obj is not None
    return obj


async def test_stop_start_scales_to_zero_and_back(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    start_controller(cluster, tmp_path, controllers)
    slot, annotations = past_slot(timedelta(minutes=3))
    annotations[METHOD] = "stop-start"
    await create(
        kube, namespace, "Deployment", manifest("Deployment", "ss", annotations, replicas=3)
    )

    await wait_event(kube, namespace, "ss", "StopStartScaledUp")
    obj = await _available(kube, namespace, "ss", 3)
    assert STOP_START not in annotations_of(obj)
    assert annotations_of(obj)[LAST] == rfc3339(slot)
    assert len(await events(kube, namespace, "ss", "StopStartScaledDown")) == 1


async def test_controller_killed_at_zero_replicas_still_scales_back(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    first = start_controller(cluster, tmp_path, controllers)
    await create(kube, namespace, "Deployment", manifest("Deployment", "db", {}, replicas=2))
    await _available(kube, namespace, "db", 2)
    held = await pods(kube, namespace, "db")
    assert len(held) == 2
    for pod in held:
        await set_finalizers(kube, namespace, pod, [HOLD])

    # the schedule is due: the controller records 2 and scales to 0 in one write
    slot, annotations = past_slot(timedelta(minutes=3))
    annotations[METHOD] = "stop-start"
    body = {"metadata": {"annotations": annotations}}
    await resources.patch(
        kube, DEPLOYMENTS, namespace=namespace, name="db", body=body, patch_type="merge"
    )

    async def stopped() -> dict[str, Any] | None:
        obj = await get(kube, namespace, "Deployment", "db")
        return obj if obj["spec"]["replicas"] == 0 else None

    obj = await eventually(stopped, timeout=30, what="db scaled to 0")
    assert obj is not None
    assert annotations_of(obj)[STOP_START] == "2"
    assert annotations_of(obj)[LAST] == rfc3339(slot)

    async def terminating() -> bool:
        current = await pods(kube, namespace, "db")
        return len(current) == 2 and all(p["metadata"].get("deletionTimestamp") for p in current)

    await eventually(terminating, timeout=30, what="db's pods held in Terminating")
    assert any(e.get("name") == "db" for e in first.logs("schedule.scaled_down"))
    assert first.stop(sig=signal.SIGKILL) != 0  # killed while waiting for the pods

    for pod in await pods(kube, namespace, "db"):
        await set_finalizers(kube, namespace, pod, [])

    async def gone() -> bool:
        return not await pods(kube, namespace, "db")

    await eventually(gone, timeout=30, what="db's pods gone")
    still = await get(kube, namespace, "Deployment", "db")
    assert still["spec"]["replicas"] == 0  # nobody else scales it back

    second = start_controller(cluster, tmp_path, controllers)
    obj = await _available(kube, namespace, "db", 2)
    assert STOP_START not in annotations_of(obj)
    assert annotations_of(obj)[LAST] == rfc3339(slot)  # the slot is not restarted again
    assert any(e.get("name") == "db" for e in second.logs("schedule.scaled_up"))
    assert not any(e.get("name") == "db" for e in second.logs("schedule.scaled_down"))
    assert len(await events(kube, namespace, "db", "StopStartScaledDown")) == 1
    assert len(await events(kube, namespace, "db", "StopStartScaledUp")) == 1
