"""``--schedule-max-concurrent``: a due restart waits until the previous one has rolled out.

The first workload's restart cannot complete (its pods ask for a node label no node has), so the
second, due meanwhile, must wait; once the first is fixed and its rollout completes, the second
restarts. No fixed sleeps: the wait is observed in the controller's log and metrics.
"""

from __future__ import annotations

from datetime import timedelta

from reloader.core.objects import DEPLOYMENTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.schedule_support import (
    LAST,
    RESTARTED_AT,
    annotations_of,
    create,
    get,
    manifest,
    past_slot,
    rfc3339,
    template_annotations,
    wait_annotation,
)
from tests.integration.support import eventually

CONTROLLER_ARGS = ["--schedule-max-concurrent=1", "--schedule-jitter=0s"]


async def test_the_next_restart_waits_for_the_previous_rollout(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    slot, annotations = past_slot(timedelta(minutes=4))
    stuck = manifest("Deployment", "first", annotations)
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"reloader.test/none": "x"}
    await create(kube, namespace, "Deployment", stuck)
    await wait_annotation(kube, namespace, "Deployment", "first", LAST, rfc3339(slot))

    await create(kube, namespace, "Deployment", manifest("Deployment", "second", annotations))
    key = f"Deployment/{namespace}/second"

    async def waiting() -> bool:
        return any(e.get("key") == key for e in controller.logs("schedule.waiting_for_slot"))

    await eventually(waiting, timeout=30, what="the second restart to wait for a slot")
    assert controller.metric("reloader_scheduled_restarts_waiting") == 1
    assert controller.metric("reloader_scheduled_restarts_in_progress") == 1
    held = await get(kube, namespace, "Deployment", "second")
    assert annotations_of(held)[LAST] == annotations[LAST]  # not restarted yet
    assert RESTARTED_AT not in template_annotations(held)

    # fix the first workload: its rollout completes, the slot frees, the second restarts
    body = {"spec": {"template": {"spec": {"nodeSelector": None}}}}
    await resources.patch(
        kube, DEPLOYMENTS, namespace=namespace, name="first", body=body, patch_type="merge"
    )
    second = await wait_annotation(kube, namespace, "Deployment", "second", LAST, rfc3339(slot))
    assert RESTARTED_AT in template_annotations(second)

    order = [
        (e["event"], e.get("name"))
        for e in controller.logs()
        if e.get("event") in ("schedule.restarted", "schedule.rollout_done")
        and e.get("namespace") == namespace
    ]
    assert order.index(("schedule.rollout_done", "first")) < order.index(
        ("schedule.restarted", "second")
    )
    assert order.count(("schedule.restarted", "first")) == 1
    assert order.count(("schedule.restarted", "second")) == 1

    async def idle() -> bool:
        return controller.metric("reloader_scheduled_restarts_waiting") == 0

    await eventually(idle, timeout=10, what="no restart waiting")
