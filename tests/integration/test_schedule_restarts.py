"""Scheduled restarts against the real cluster: catch-up once per kind, never twice, skip beyond
the deadline, adoption without a restart, bad annotations as Warning Events, and a schedule that
fires at the next minute.

One controller for the module (each test in its own namespace). Schedules are real: a cron
expression for one precise minute, with a recorded last restart before it so that the catch-up
fires as soon as the controller sees the workload, or a minute ahead for the timer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.schedule_support import (
    BASELINE,
    LAST,
    RESTARTED_AT,
    SCHEDULE,
    TIMEZONE,
    annotations_of,
    create,
    cron_at,
    events,
    get,
    manifest,
    minute,
    owned_jobs,
    past_slot,
    poke_and_wait,
    rfc3339,
    template_annotations,
    wait_annotation,
    wait_event,
)
from tests.integration.support import eventually

CONTROLLER_ARGS = ["--schedule-deadline=30m"]

ROLLING_KINDS = ["Deployment", "DaemonSet", "StatefulSet"]


@pytest.mark.parametrize("kind", [*ROLLING_KINDS, "CronJob", "Job"])
async def test_missed_slot_is_caught_up_once(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    slot, annotations = past_slot(timedelta(minutes=5))
    created = await create(kube, namespace, kind, manifest(kind, "w", annotations))

    obj = await wait_annotation(kube, namespace, kind, "w", LAST, rfc3339(slot))
    if kind in ROLLING_KINDS:
        restarted_at = template_annotations(obj).get(RESTARTED_AT)
        assert restarted_at is not None
        assert restarted_at >= rfc3339(slot)
    elif kind == "CronJob":
        jobs = await eventually(
            lambda: owned_jobs(kube, namespace, "w"), timeout=15, what="a Job from the CronJob"
        )
        assert len(jobs) == 1
    else:
        assert obj["metadata"]["uid"] != created["metadata"]["uid"]  # recreated
    event = await wait_event(kube, namespace, "w", "ScheduledRestart")
    assert rfc3339(slot) in event["message"]
    assert event["type"] == "Normal"

    # never twice for one slot: another reconcile changes nothing
    before = await get(kube, namespace, kind, "w")
    await poke_and_wait(controller, kube, namespace, kind, "w")
    after = await get(kube, namespace, kind, "w")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert annotations_of(after)[LAST] == rfc3339(slot)
    if kind in ROLLING_KINDS:
        assert after["spec"]["template"] == before["spec"]["template"]
    if kind == "CronJob":
        assert len(await owned_jobs(kube, namespace, "w")) == 1
    assert len(await events(kube, namespace, "w", "ScheduledRestart")) == 1


async def test_slot_missed_beyond_the_deadline_is_skipped_with_an_event(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    before = controller.metric(
        "reloader_scheduled_restart_skipped_total", {"reason": "missed_deadline"}
    )
    slot, annotations = past_slot(timedelta(hours=2))  # the deadline is 30m
    await create(kube, namespace, "Deployment", manifest("Deployment", "late", annotations))

    obj = await wait_annotation(kube, namespace, "Deployment", "late", BASELINE, rfc3339(slot))
    assert RESTARTED_AT not in template_annotations(obj)
    assert annotations_of(obj)[LAST] == annotations[LAST]  # no restart recorded
    event = await wait_event(kube, namespace, "late", "ScheduledRestartSkipped")
    assert event["type"] == "Warning"
    assert rfc3339(slot) in event["message"]
    assert any(
        e.get("name") == "late" and e.get("slot") == rfc3339(slot)
        for e in controller.logs("schedule.skipped")
    )
    after = controller.metric(
        "reloader_scheduled_restart_skipped_total", {"reason": "missed_deadline"}
    )
    assert after == before + 1


async def test_a_new_schedule_is_adopted_without_a_restart(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    # the slot of ten minutes ago is not a "missed" one: the schedule did not exist then
    slot = minute(datetime.now(UTC) - timedelta(minutes=10))
    annotations = {SCHEDULE: cron_at(slot), TIMEZONE: "Europe/Berlin"}
    await create(kube, namespace, "Deployment", manifest("Deployment", "new", annotations))

    obj = await wait_annotation(kube, namespace, "Deployment", "new", BASELINE)
    assert LAST not in annotations_of(obj)
    assert RESTARTED_AT not in template_annotations(obj)
    event = await wait_event(kube, namespace, "new", "ScheduleActive")
    assert "Europe/Berlin" in event["message"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(SCHEDULE, "every night", id="bad-cron"),
        pytest.param(TIMEZONE, "Mars/Olympus_Mons", id="bad-time-zone"),
    ],
)
async def test_bad_annotation_is_a_warning_event_not_a_crash(
    kube: KubeClient, namespace: str, controller: ControllerProcess, key: str, value: str
) -> None:
    annotations = {SCHEDULE: "@daily", key: value}
    await create(kube, namespace, "Deployment", manifest("Deployment", "bad", annotations))

    event = await wait_event(kube, namespace, "bad", "InvalidAnnotation")
    assert event["type"] == "Warning"
    assert key in event["message"]
    assert value in event["message"]
    assert event["involvedObject"]["kind"] == "Deployment"
    obj = await get(kube, namespace, "Deployment", "bad")
    assert BASELINE not in annotations_of(obj)  # no schedule: nothing recorded
    assert controller.get("/ready")[0] == 200
    assert (
        controller.metric(
            "reloader_scheduled_restart_skipped_total", {"reason": "invalid_annotation"}
        )
        >= 1
    )


@pytest.mark.timeout(150)  # the slot is 5-65 s away, then up to 90 s for the restart
async def test_a_schedule_fires_at_its_next_minute(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """The timer path: adopted first, then restarted when the slot comes (within ~70 s)."""
    slot = minute(datetime.now(UTC) + timedelta(seconds=65))
    annotations = {SCHEDULE: cron_at(slot)}
    await create(kube, namespace, "Deployment", manifest("Deployment", "timer", annotations))
    adopted = await wait_annotation(kube, namespace, "Deployment", "timer", BASELINE)
    assert annotations_of(adopted)[BASELINE] < rfc3339(slot)
    assert RESTARTED_AT not in template_annotations(adopted)

    async def restarted() -> dict[str, str] | None:
        obj = await get(kube, namespace, "Deployment", "timer")
        return annotations_of(obj) if LAST in annotations_of(obj) else None

    recorded = await eventually(restarted, timeout=90, interval=0.5, what="the timer restart")
    assert recorded is not None
    assert recorded[LAST] == rfc3339(slot)
    obj = await get(kube, namespace, "Deployment", "timer")
    assert template_annotations(obj)[RESTARTED_AT] >= rfc3339(slot)
    fired = [e for e in controller.logs("schedule.restarted") if e.get("name") == "timer"]
    assert len(fired) == 1, fired
    assert fired[0]["late_s"] < 30, fired  # the timer, not a later catch-up
