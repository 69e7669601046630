"""Scheduled restarts: parsing, slots (time zones, DST), the due/catch-up/skip decision, jitter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reloader.core.durations import format_time
from reloader.schedule.domain.patches import (
    record_patch,
    recorded_replicas,
    scale_down_patch,
    scale_up_patch,
)
from reloader.schedule.domain.schedules import (
    Action,
    RestartStyle,
    Schedule,
    ScheduleNames,
    ScheduleState,
    decide_schedule,
    jitter_seconds,
    latest_slot,
    load_zone,
    next_slot,
    parse_cron,
    parse_schedule,
    parse_time,
    read_state,
)
from reloader.workloads.domain.kinds import KINDS
from reloader.workloads.domain.verbs import RESTARTED_AT, restart_template_patch

NAMES = ScheduleNames()
HOUR = 3600.0


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def schedule(cron: str, tz: str = "UTC", **extra: str) -> Schedule:
    parsed, warnings = parse_schedule(
        {NAMES.schedule: cron, NAMES.timezone: tz, **extra}, kind="Deployment", names=NAMES
    )
    assert parsed is not None, warnings
    return parsed


# ---------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        pytest.param("@hourly", "0 * * * *", id="hourly"),
        pytest.param("@daily", "0 0 * * *", id="daily"),
        pytest.param("@midnight", "0 0 * * *", id="midnight"),
        pytest.param("@weekly", "0 0 * * 0", id="weekly"),
        pytest.param("@monthly", "0 0 1 * *", id="monthly"),
        pytest.param("@yearly", "0 0 1 1 *", id="yearly"),
        pytest.param("@annually", "0 0 1 1 *", id="annually"),
        pytest.param("@DAILY", "0 0 * * *", id="shorthand-case-insensitive"),
        pytest.param("0 3 * * *", "0 3 * * *", id="five-fields"),
        pytest.param("  0   3 * *  mon-fri ", "0 3 * * mon-fri", id="whitespace-normalized"),
        pytest.param("*/15 9-17 * * 1-5", "*/15 9-17 * * 1-5", id="steps-and-ranges"),
    ],
)
def test_parse_cron_accepts_five_fields_and_shorthands(text: str, cron: str) -> None:
    assert parse_cron(text) == cron


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("* * * * * *", "five fields", id="six-fields-seconds"),
        pytest.param("0 3 * *", "five fields", id="four-fields"),
        pytest.param("@reboot", "unknown shorthand", id="reboot"),
        pytest.param("61 * * * *", "out of range", id="minute-out-of-range"),
        pytest.param("0 0 30 2 *", "never fires", id="february-30"),
        pytest.param("H 3 * * *", "hash", id="jenkins-hash"),
        pytest.param("nonsense here x y z", ".", id="garbage"),
    ],
)
def test_parse_cron_rejects_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_cron(text)


def test_load_zone_accepts_iana_names_and_utc() -> None:
    assert load_zone("UTC") is UTC
    assert load_zone("utc") is UTC
    assert str(load_zone("Europe/Berlin")) == "Europe/Berlin"
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "Europe/"):
        with pytest.raises(ValueError, match="unknown time zone"):
            load_zone(bad)


def test_no_schedule_annotation_means_no_schedule_and_no_warning() -> None:
    assert parse_schedule({}, kind="Deployment", names=NAMES) == (None, ())
    assert parse_schedule({NAMES.schedule: "  "}, kind="Deployment", names=NAMES) == (None, ())


def test_defaults_are_utc_and_rolling() -> None:
    parsed, warnings = parse_schedule({NAMES.schedule: "0 3 * * *"}, kind="Job", names=NAMES)
    assert warnings == ()
    assert parsed is not None
    assert (parsed.timezone, parsed.zone, parsed.method, parsed.deadline) == (
        "UTC",
        UTC,
        RestartStyle.ROLLING,
        None,
    )


@pytest.mark.parametrize(
    ("annotations", "kind", "usable", "key", "value"),
    [
        pytest.param({NAMES.schedule: "0 25 * * *"}, "Deployment", False, NAMES.schedule,
                     "0 25 * * *", id="bad-cron"),
        pytest.param({NAMES.schedule: "@daily", NAMES.timezone: "Europe/Berln"}, "Deployment",
                     False, NAMES.timezone, "Europe/Berln", id="bad-zone"),
        pytest.param({NAMES.schedule: "@daily", NAMES.method: "recreate"}, "Deployment", True,
                     NAMES.method, "recreate", id="bad-method-falls-back-to-rolling"),
        pytest.param({NAMES.schedule: "@daily", NAMES.method: "stop-start"}, "DaemonSet", True,
                     NAMES.method, "DaemonSet", id="stop-start-on-daemonset"),
        pytest.param({NAMES.schedule: "@daily", NAMES.method: "stop-start"}, "CronJob", True,
                     NAMES.method, "CronJob", id="stop-start-on-cronjob"),
        pytest.param({NAMES.schedule: "@daily", NAMES.deadline: "soon"}, "Deployment", True,
                     NAMES.deadline, "soon", id="bad-deadline-uses-default"),
        pytest.param({NAMES.schedule: "@daily", NAMES.deadline: "0s"}, "Deployment", True,
                     NAMES.deadline, "0s", id="zero-deadline"),
    ],
)  # fmt: skip
def test_bad_values_are_warnings_naming_annotation_and_value(
    annotations: dict[str, str], kind: str, usable: bool, key: str, value: str
) -> None:
    parsed, warnings = parse_schedule(annotations, kind=kind, names=NAMES)
    assert (parsed is not None) is usable
    assert len(warnings) == 1
    assert key in warnings[0]
    assert value in warnings[0]
    if parsed is not None:
        assert parsed.method is RestartStyle.ROLLING
        assert parsed.deadline is None


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "Rollout"])
def test_stop_start_on_kinds_with_replicas(kind: str) -> None:
    annotations = {NAMES.schedule: "@daily", NAMES.method: "Stop-Start", NAMES.deadline: "2h"}
    parsed, warnings = parse_schedule(annotations, kind=kind, names=NAMES)
    assert warnings == ()
    assert parsed is not None
    assert parsed.method is RestartStyle.STOP_START
    assert parsed.deadline == 2 * HOUR


# ---------------------------------------------------------------------- slots and time zones


def test_slots_in_utc() -> None:
    s = schedule("0 3 * * *")
    assert latest_slot(s, utc(2025, 1, 2, 3, 0)) == utc(2025, 1, 2, 3, 0)  # inclusive
    assert latest_slot(s, utc(2025, 1, 2, 2, 59, 59)) == utc(2025, 1, 1, 3, 0)
    assert next_slot(s, utc(2025, 1, 2, 3, 0)) == utc(2025, 1, 3, 3, 0)  # strictly after
    assert next_slot(s, utc(2025, 1, 2, 2, 59)) == utc(2025, 1, 2, 3, 0)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(utc(2025, 1, 15, 12), utc(2025, 1, 16, 2, 0), id="winter-cet-utc+1"),
        pytest.param(utc(2025, 7, 15, 12), utc(2025, 7, 16, 1, 0), id="summer-cest-utc+2"),
    ],
)
def test_time_zone_moves_the_slot(day: datetime, expected: datetime) -> None:
    assert next_slot(schedule("0 3 * * *", "Europe/Berlin"), day) == expected


def test_new_york_is_behind_utc() -> None:
    s = schedule("0 3 * * *", "America/New_York")
    assert next_slot(s, utc(2025, 1, 15, 12)) == utc(2025, 1, 16, 8, 0)


def test_dst_spring_forward_nonexistent_time_fires_once_after_the_gap() -> None:
    # 2025-03-30: Europe/Berlin clocks jump 02:00 → 03:00; 02:30 does not exist that day
    s = schedule("30 2 * * *", "Europe/Berlin")
    fires = []
    moment = utc(2025, 3, 28, 12)
    for _ in range(4):
        nxt = next_slot(s, moment)
        assert nxt is not None
        fires.append(nxt)
        moment = nxt
    assert fires == [
        utc(2025, 3, 29, 1, 30),  # 02:30 CET
        utc(2025, 3, 30, 1, 0),  # 03:00 CEST, the first instant after the gap
        utc(2025, 3, 31, 0, 30),  # 02:30 CEST
        utc(2025, 4, 1, 0, 30),
    ]


def test_dst_fall_back_repeated_time_fires_once() -> None:
    # 2025-10-26: Europe/Berlin clocks go 03:00 CEST → 02:00 CET; 02:30 happens twice
    s = schedule("30 2 * * *", "Europe/Berlin")
    first = next_slot(s, utc(2025, 10, 25, 12))
    assert first == utc(2025, 10, 26, 0, 30)  # 02:30 CEST, the first occurrence
    assert next_slot(s, first) == utc(2025, 10, 27, 1, 30)  # not 02:30 CET the same day
    # during the second 02:30 (CET) the latest slot is still the first one: no second restart
    assert latest_slot(s, utc(2025, 10, 26, 1, 45)) == utc(2025, 10, 26, 0, 30)
    state = ScheduleState(last_restart=first)
    decision = decide_schedule(schedule=s, state=state, now=utc(2025, 10, 26, 1, 31), deadline=HOUR)
    assert decision.action is Action.WAIT


def test_dst_fall_back_hourly_schedule_keeps_distinct_instants() -> None:
    s = schedule("0 * * * *", "Europe/Berlin")
    fires = [next_slot(s, utc(2025, 10, 25, 22, 30))]
    for _ in range(3):
        previous = fires[-1]
        assert previous is not None
        fires.append(next_slot(s, previous))
    # 01:00 CEST, 02:00 CEST, (02:00 CET repeats a wall time: once), 03:00 CET
    assert fires == [
        utc(2025, 10, 25, 23, 0),
        utc(2025, 10, 26, 0, 0),
        utc(2025, 10, 26, 2, 0),
        utc(2025, 10, 26, 3, 0),
    ]


# ---------------------------------------------------------------------- the decision


def test_first_sight_adopts_now_and_restarts_nothing() -> None:
    s = schedule("0 3 * * *")
    now = utc(2025, 1, 2, 3, 10)  # ten minutes after a slot: still no restart
    decision = decide_schedule(schedule=s, state=ScheduleState(), now=now, deadline=HOUR)
    assert decision.action is Action.ADOPT
    assert decision.slot is None
    assert decision.due == utc(2025, 1, 3, 3, 0)


def test_nothing_due_waits_until_the_next_slot() -> None:
    s = schedule("0 3 * * *")
    state = ScheduleState(baseline=utc(2025, 1, 2, 1, 0))
    decision = decide_schedule(schedule=s, state=state, now=utc(2025, 1, 2, 2, 0), deadline=HOUR)
    assert (decision.action, decision.due) == (Action.WAIT, utc(2025, 1, 2, 3, 0))


def test_due_slot_restarts_and_names_the_slot() -> None:
    s = schedule("0 3 * * *")
    state = ScheduleState(last_restart=utc(2025, 1, 1, 3, 0))
    now = utc(2025, 1, 2, 3, 0, 5)
    decision = decide_schedule(schedule=s, state=state, now=now, deadline=HOUR)
    assert decision.action is Action.RESTART
    assert decision.slot == utc(2025, 1, 2, 3, 0)
    assert decision.late == 5.0
    assert decision.due == utc(2025, 1, 3, 3, 0)


def test_never_twice_for_one_slot() -> None:
    s = schedule("0 3 * * *")
    now = utc(2025, 1, 2, 3, 0, 5)
    first = decide_schedule(
        schedule=s, state=ScheduleState(baseline=utc(2025, 1, 1)), now=now, deadline=HOUR
    )
    assert first.action is Action.RESTART
    recorded = ScheduleState(last_restart=first.slot, baseline=utc(2025, 1, 1))
    for later in (now, now + timedelta(minutes=5), utc(2025, 1, 3, 2, 59, 59)):
        again = decide_schedule(schedule=s, state=recorded, now=later, deadline=HOUR)
        assert again.action is Action.WAIT, later
        assert again.due == utc(2025, 1, 3, 3, 0)


def test_missed_slots_are_caught_up_once_within_the_deadline() -> None:
    s = schedule("*/10 * * * *")  # six slots an hour
    state = ScheduleState(last_restart=utc(2025, 1, 2, 0, 0))
    now = utc(2025, 1, 2, 5, 43)  # down for hours: dozens of slots missed
    decision = decide_schedule(schedule=s, state=state, now=now, deadline=HOUR)
    assert decision.action is Action.RESTART
    assert decision.slot == utc(2025, 1, 2, 5, 40)  # only the latest one
    after = ScheduleState(last_restart=decision.slot)
    assert decide_schedule(schedule=s, state=after, now=now, deadline=HOUR).action is Action.WAIT


def test_a_slot_missed_beyond_the_deadline_is_skipped_once() -> None:
    s = schedule("0 3 * * *")
    state = ScheduleState(last_restart=utc(2025, 1, 1, 3, 0))
    now = utc(2025, 1, 5, 9, 0)  # three days down, latest slot six hours ago
    decision = decide_schedule(schedule=s, state=state, now=now, deadline=HOUR)
    assert decision.action is Action.SKIP
    assert decision.slot == utc(2025, 1, 5, 3, 0)
    assert decision.late == 6 * HOUR
    assert decision.due == utc(2025, 1, 6, 3, 0)
    skipped = ScheduleState(last_restart=utc(2025, 1, 1, 3, 0), baseline=decision.slot)
    assert decide_schedule(schedule=s, state=skipped, now=now, deadline=HOUR).action is Action.WAIT


@pytest.mark.parametrize(
    ("late", "action"),
    [
        pytest.param(HOUR, Action.RESTART, id="exactly-the-deadline-restarts"),
        pytest.param(HOUR + 1, Action.SKIP, id="a-second-more-skips"),
    ],
)
def test_deadline_boundary(late: float, action: Action) -> None:
    s = schedule("0 3 * * *")
    state = ScheduleState(last_restart=utc(2025, 1, 1, 3, 0))
    now = utc(2025, 1, 2, 3, 0) + timedelta(seconds=late)
    assert decide_schedule(schedule=s, state=state, now=now, deadline=HOUR).action is action


def test_the_workloads_own_deadline_wins() -> None:
    s = schedule("0 3 * * *", **{NAMES.deadline: "12h"})
    state = ScheduleState(last_restart=utc(2025, 1, 1, 3, 0))
    now = utc(2025, 1, 2, 9, 0)  # six hours late: beyond the default, within the workload's
    assert decide_schedule(schedule=s, state=state, now=now, deadline=HOUR).action is (
        Action.RESTART
    )


def test_watermark_is_the_later_of_restart_and_baseline() -> None:
    s = schedule("0 3 * * *")
    now = utc(2025, 1, 2, 3, 30)
    state = ScheduleState(last_restart=utc(2024, 12, 1, 3), baseline=utc(2025, 1, 2, 3, 10))
    assert state.watermark == utc(2025, 1, 2, 3, 10)
    assert decide_schedule(schedule=s, state=state, now=now, deadline=HOUR).action is Action.WAIT


def test_jitter_delays_the_restart_and_the_deadline_counts_from_the_due_time() -> None:
    s = schedule("0 3 * * *")
    state = ScheduleState(last_restart=utc(2025, 1, 1, 3, 0))
    slot = utc(2025, 1, 2, 3, 0)
    before = decide_schedule(
        schedule=s, state=state, now=slot + timedelta(seconds=299), deadline=HOUR, jitter=300
    )
    assert (before.action, before.due) == (Action.WAIT, slot + timedelta(seconds=300))
    at = decide_schedule(
        schedule=s, state=state, now=slot + timedelta(seconds=300), deadline=HOUR, jitter=300
    )
    assert (at.action, at.slot, at.late) == (Action.RESTART, slot, 0.0)
    late = decide_schedule(
        schedule=s, state=state, now=slot + timedelta(seconds=300 + HOUR), deadline=HOUR, jitter=300
    )
    assert late.action is Action.RESTART


def test_jitter_larger_than_the_interval_still_fires_every_slot() -> None:
    s = schedule("* * * * *")
    state = ScheduleState(last_restart=utc(2025, 1, 2, 3, 0))
    decision = decide_schedule(
        schedule=s, state=state, now=utc(2025, 1, 2, 3, 2, 30), deadline=HOUR, jitter=90
    )
    assert (decision.action, decision.slot) == (Action.RESTART, utc(2025, 1, 2, 3, 1))


# ---------------------------------------------------------------------- jitter


def test_jitter_is_deterministic_per_workload() -> None:
    assert jitter_seconds("prod", "web", 600) == jitter_seconds("prod", "web", 600)
    assert jitter_seconds("prod", "web", 0) == 0
    assert jitter_seconds("prod", "web", -5) == 0


def test_jitter_stays_within_bounds_and_spreads_workloads() -> None:
    values = [jitter_seconds("ns", f"web-{i}", 600) for i in range(500)]
    assert all(0 <= v <= 600 for v in values)
    assert len(set(values)) > 250  # spread, not clustered
    assert min(values) < 60
    assert max(values) > 540
    assert {jitter_seconds("ns", f"w{i}", 1) for i in range(50)} == {0, 1}  # inclusive bound


def test_jitter_depends_on_namespace_and_name() -> None:
    assert jitter_seconds("a", "web", 10**6) != jitter_seconds("b", "web", 10**6)
    assert jitter_seconds("a", "b/c", 10**6) == jitter_seconds("a/b", "c", 10**6)  # the key


# ---------------------------------------------------------------------- state and patches


def test_read_state_parses_rfc3339_and_warns_on_garbage() -> None:
    state = read_state(
        {NAMES.last_restart: "2025-01-02T03:00:00Z", NAMES.baseline: "yesterday"}, names=NAMES
    )
    assert state.last_restart == utc(2025, 1, 2, 3)
    assert state.baseline is None
    assert len(state.warnings) == 1
    assert NAMES.baseline in state.warnings[0]
    assert "yesterday" in state.warnings[0]


def test_times_round_trip_in_utc() -> None:
    moment = datetime.fromisoformat("2025-01-02T04:00:00+01:00")
    assert format_time(moment) == "2025-01-02T03:00:00Z"
    assert parse_time("2025-01-02T03:00:00Z") == utc(2025, 1, 2, 3)
    assert parse_time("2025-01-02T03:00:00") == utc(2025, 1, 2, 3)  # no offset: UTC
    assert parse_time("not a time") is None


def test_record_patch_writes_metadata_only() -> None:
    patch = record_patch(names=NAMES, restarted=utc(2025, 1, 2, 3), baseline=utc(2025, 1, 1))
    assert patch == {
        "metadata": {
            "annotations": {
                NAMES.last_restart: "2025-01-02T03:00:00Z",
                NAMES.baseline: "2025-01-01T00:00:00Z",
            }
        }
    }


def test_stop_start_records_the_count_in_the_same_write_that_scales_to_zero() -> None:
    down = scale_down_patch(names=NAMES, replicas=3, slot=utc(2025, 1, 2, 3))
    assert down == {
        "metadata": {
            "annotations": {
                NAMES.stop_start_replicas: "3",
                NAMES.last_restart: "2025-01-02T03:00:00Z",
            }
        },
        "spec": {"replicas": 0},
    }
    up = scale_up_patch(names=NAMES, replicas=3)
    assert up == {
        "metadata": {"annotations": {NAMES.stop_start_replicas: None}},
        "spec": {"replicas": 3},
    }


@pytest.mark.parametrize(
    ("value", "expected", "warns"),
    [
        pytest.param(None, None, False, id="none-in-progress"),
        pytest.param("3", 3, False, id="three"),
        pytest.param("0", 0, False, id="zero"),
        pytest.param("three", 1, True, id="garbage-scales-back-to-one"),
    ],
)
def test_recorded_replicas(value: str | None, expected: int | None, warns: bool) -> None:
    annotations = {} if value is None else {NAMES.stop_start_replicas: value}
    replicas, warnings = recorded_replicas(annotations, names=NAMES)
    assert replicas == expected
    assert bool(warnings) is warns


def test_restart_template_patch_is_what_kubectl_rollout_restart_writes() -> None:
    at = utc(2025, 1, 2, 3, 4, 5)
    assert restart_template_patch(KINDS["Deployment"], at) == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2025-01-02T03:04:05Z"}}}}
    }
    cronjob = restart_template_patch(KINDS["CronJob"], at)
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"] == {
        RESTARTED_AT: "2025-01-02T03:04:05Z"
    }


def test_names_keys_cover_every_annotation() -> None:
    keys = NAMES.keys()
    assert len(keys) == 7
    assert all(k.startswith("reloader.stakater.com/") for k in keys)
