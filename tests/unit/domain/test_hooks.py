"""Restart hooks' pure rules: the annotation syntax, the record, the Job names."""

from __future__ import annotations

import pytest

from reloader.workloads.domain.hooks import (
    DEFAULT_TIMEOUT,
    ExecHook,
    HookNames,
    HookPoint,
    JobHook,
    RestartProgress,
    Step,
    blocking_problem,
    hand_over_patch,
    job_name,
    parse_hook,
    parse_hooks,
    read_progress,
    record_patch,
    results_value,
)

NAMES = HookNames()


@pytest.mark.parametrize(
    ("text", "hook"),
    [
        ("job cronjob/cache-flush", JobHook("cache-flush")),
        (
            "exec app=redis -c redis -- redis-cli flushall",
            ExecHook("app=redis", "redis", ("redis-cli", "flushall")),
        ),
        (
            "exec app=redis,tier=cache -- sh -c 'redis-cli -n 2 flushdb && echo done'",
            ExecHook(
                "app=redis,tier=cache", "", ("sh", "-c", "redis-cli -n 2 flushdb && echo done")
            ),
        ),
        (
            "  exec app=redis --container redis -- redis-cli -- flushall ",
            ExecHook("app=redis", "redis", ("redis-cli", "--", "flushall")),
        ),
    ],
)
def test_hook_syntax(text: str, hook: object) -> None:
    assert parse_hook(text) == hook
    assert parse_hook(parse_hook(text).describe()) == hook  # describe() round-trips


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a hook"),
        ("run cronjob/x", "is not a hook"),
        ("job x", "a Job hook is 'job cronjob/NAME'"),
        ("job cronjob/", "a Job hook is 'job cronjob/NAME'"),
        ("job cronjob/a cronjob/b", "a Job hook is 'job cronjob/NAME'"),
        ("exec app=redis redis-cli flushall", "needs '--' before its command"),
        ("exec -- redis-cli", "an exec hook is 'exec SELECTOR"),
        ("exec app=redis --", "an exec hook is 'exec SELECTOR"),
        ("exec app=redis -c -- x", "an exec hook is 'exec SELECTOR"),
        ("exec app=redis -- 'unclosed", "cannot split"),
    ],
)
def test_bad_hooks_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hook(text)


def test_parse_hooks_reads_every_point_and_reports_problems() -> None:
    annotations = {
        NAMES.before: "job cronjob/warm",
        NAMES.stopped: "exec app=redis -- redis-cli flushall",
        NAMES.after: "nonsense",
        NAMES.timeout: "90s",
        NAMES.on_failure: "stay-stopped",
        NAMES.show_output: "true",
    }
    hooks, problems = parse_hooks(annotations, names=NAMES, stop_start=True)
    assert hooks.show_output
    assert hooks.before == JobHook("warm")
    assert hooks.stopped == ExecHook("app=redis", "", ("redis-cli", "flushall"))
    assert hooks.after is None
    assert (hooks.timeout, hooks.stay_stopped) == (90.0, True)
    assert len(problems) == 1
    assert problems[0].startswith(f"annotation {NAMES.after}: ")


def test_a_stopped_hook_needs_stop_start_and_bad_settings_fall_back() -> None:
    annotations = {
        NAMES.stopped: "exec app=redis -- redis-cli flushall",
        NAMES.timeout: "-5s",
        NAMES.on_failure: "explode",
        NAMES.show_output: "sometimes",
    }
    hooks, problems = parse_hooks(annotations, names=NAMES, stop_start=False)
    assert hooks.stopped is None
    assert not hooks.any
    assert (hooks.timeout, hooks.stay_stopped) == (DEFAULT_TIMEOUT, False)
    assert [p.split(":")[0] for p in problems] == [
        f"annotation {NAMES.stopped}",
        f"annotation {NAMES.timeout}",
        f"annotation {NAMES.on_failure}",
        f"annotation {NAMES.show_output}",
    ]


def test_only_an_unusable_before_or_stopped_hook_blocks_the_restart() -> None:
    assert blocking_problem({NAMES.before: "job nope"}, NAMES)
    assert blocking_problem({NAMES.stopped: "exec"}, NAMES)
    assert not blocking_problem({NAMES.after: "job nope"}, NAMES)
    assert not blocking_problem({NAMES.before: "job cronjob/ok"}, NAMES)
    assert not blocking_problem({NAMES.before: "  "}, NAMES)


def test_the_record_round_trips_and_a_broken_one_is_none() -> None:
    progress = RestartProgress("2026-12-06T10:00:00Z", Step.STOPPED, attempt=3, replicas=4)
    value = record_patch(NAMES, progress)[NAMES.record]
    assert value is not None
    assert read_progress({NAMES.record: value}, NAMES) == progress
    assert read_progress({}, NAMES) is None
    assert record_patch(NAMES, None) == {NAMES.record: None}
    for broken in ("{", "[]", '{"restart":"x"}', '{"restart":"x","step":"flying"}'):
        assert read_progress({NAMES.record: broken}, NAMES) is None, broken
    assert progress.to(Step.STARTING) == RestartProgress(
        "2026-12-06T10:00:00Z", Step.STARTING, attempt=1, replicas=4
    )


def test_job_names_are_deterministic_valid_and_distinct() -> None:
    first = job_name("web", HookPoint.BEFORE, "2026-12-06T10:00:00Z", 1)
    assert first == job_name("web", HookPoint.BEFORE, "2026-12-06T10:00:00Z", 1)
    assert first.startswith("web-before-")
    assert first.endswith("-1")
    others = {
        job_name("web", HookPoint.BEFORE, "2026-12-06T10:00:00Z", 2),
        job_name("web", HookPoint.BEFORE, "2026-12-06T12:00:00Z", 1),
        job_name("web", HookPoint.AFTER, "2026-12-06T10:00:00Z", 1),
    }
    assert first not in others
    assert len(others) == 3
    long = job_name("a" * 80 + "-b", HookPoint.STOPPED, "r", 99)
    assert len(long) <= 63
    assert long[0].isalnum()


def test_results_keep_the_last_outcome_of_each_point() -> None:
    value = results_value(None, HookPoint.BEFORE, "success")
    value = results_value(value, HookPoint.AFTER, "failure")
    value = results_value(value, HookPoint.BEFORE, "timeout")
    assert value == '{"after":"failure","before":"timeout"}'
    assert results_value("garbage", HookPoint.STOPPED, "success") == '{"stopped":"success"}'


def test_a_reload_of_a_workload_with_hooks_is_handed_over() -> None:
    with_before = {NAMES.before: "job cronjob/warm", NAMES.after: "job cronjob/x"}
    patch = hand_over_patch(with_before, NAMES, ["b" * 40, "a" * 40])
    assert patch is not None
    progress = read_progress(patch["metadata"]["annotations"], NAMES)
    assert progress == RestartProgress("reload " + "a" * 12 + "," + "b" * 12, Step.BEFORE)
    after_only = hand_over_patch({NAMES.after: "job cronjob/x"}, NAMES, ["c" * 40])
    assert after_only is not None
    ready = read_progress(after_only["metadata"]["annotations"], NAMES)
    assert ready is not None
    assert ready.step is Step.READY
    held = hand_over_patch({NAMES.before: "job nope"}, NAMES, ["c" * 40])  # unusable: held there
    assert held is not None
    assert read_progress(held["metadata"]["annotations"], NAMES).step is Step.BEFORE  # type: ignore[union-attr]
    assert hand_over_patch({}, NAMES, ["c" * 40]) is None
    assert hand_over_patch(with_before, NAMES, []) is None  # nothing rolls: a record only
