"""The benchmark's fan-out figures: when a rollout is complete, the time until every dependent of
an update rolled it and completed, the halt scenario's count and how the report shows both."""

from __future__ import annotations

from typing import Any

from tests.bench import compare
from tests.bench.fanout import (
    UNHEALTHY,
    bad_payload,
    fan_out_lines,
    halt_setup,
    render_fan_out,
    rolled,
)
from tests.bench.objects import Source, Workload, content_hash
from tests.bench.observe import WorkloadState, WorkloadWatcher, rollout_complete
from tests.bench.report import targets
from tests.bench.scenarios import Setup
from tests.bench.stats import Tracker


def _deployment(
    *,
    generation: int = 2,
    observed: int = 2,
    replicas: int = 1,
    updated: int = 1,
    available: int = 1,
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": updated,
            "availableReplicas": available,
        },
    }


def test_a_deployment_rollout_is_complete_only_with_every_replica_updated_and_no_old_one() -> None:
    assert rollout_complete(_deployment(), "Deployment")
    assert not rollout_complete(_deployment(observed=1), "Deployment")  # not seen yet
    assert not rollout_complete(_deployment(updated=0), "Deployment")
    assert not rollout_complete(_deployment(replicas=2), "Deployment")  # an old pod left
    assert not rollout_complete(_deployment(available=0), "Deployment")  # new pod not ready


def test_statefulset_and_daemonset_rollouts_are_complete_by_their_own_status() -> None:
    sts: dict[str, Any] = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 1,
            "currentRevision": "a",
            "updateRevision": "a",
        },
    }
    assert rollout_complete(sts, "StatefulSet")
    sts["status"]["updateRevision"] = "b"
    assert not rollout_complete(sts, "StatefulSet")
    ds: dict[str, Any] = {
        "metadata": {"generation": 1},
        "spec": {},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 3,
        },
    }
    assert rollout_complete(ds, "DaemonSet")
    ds["status"]["updatedNumberScheduled"] = 2
    assert not rollout_complete(ds, "DaemonSet")


def test_all_complete_is_the_slowest_dependent_to_complete_with_the_update_or_a_later_one() -> None:
    src = Source("ConfigMap", "ns", "shared")
    a, b = Workload("Deployment", "ns", "a"), Workload("Deployment", "ns", "b")
    tracker = Tracker()
    tracker.depend(a, src)
    tracker.depend(b, src)
    h1 = tracker.register(src, 1, {"k": "v1"})
    tracker.record(src, 1, h1, sent=10.0, answered=10.0)
    h2 = tracker.register(src, 2, {"k": "v2"})
    tracker.record(src, 2, h2, sent=20.0, answered=20.0)
    watcher = WorkloadWatcher(client=None)  # type: ignore[arg-type]  # only its state is read
    var = src.env_var
    watcher.state[a] = WorkloadState(completions=[(5.0, {}), (13.0, {var: h1}), (26.0, {var: h2})])
    watcher.state[b] = WorkloadState(completions=[(5.0, {}), (29.0, {var: h2})])  # skipped 1
    first, last = tracker.updates
    assert tracker.completed_at(watcher, b, src, 1) == 29.0  # a later update counts
    assert tracker.all_complete(watcher, first) == 19.0
    assert tracker.all_complete(watcher, last) == 9.0
    ev = tracker.evaluate(watcher)
    assert ev.all_complete == [19.0, 9.0]
    assert ev.last_all_complete == 9.0
    assert tracker.incomplete(watcher) == []
    watcher.state[b] = WorkloadState(completions=[(5.0, {})])  # b never completed an update
    assert tracker.all_complete(watcher, last) is None
    assert tracker.incomplete(watcher) == [(b, src)]
    assert tracker.evaluate(watcher).last_all_complete is None


def test_halt_setup_breaks_only_the_canary_and_only_for_the_first_update() -> None:
    setup = halt_setup(Setup, "bench-x", "never-ready")
    src = setup.sources[0]
    bodies = {wl.name: body for wl, body in setup.workloads}
    assert len(bodies) == 50
    bad = content_hash(src.kind, bad_payload(src, 1))
    assert bad == content_hash(src.kind, {"k": "v1"})
    canary = bodies["fan-0"]
    assert canary["metadata"]["annotations"]["reloader.stakater.com/canary"] == "true"
    assert canary["spec"]["template"]["metadata"]["annotations"] == {UNHEALTHY["never-ready"]: bad}
    others = [b for name, b in bodies.items() if name != "fan-0"]
    assert all("annotations" not in b["spec"]["template"]["metadata"] for b in others)
    crash = halt_setup(Setup, "bench-y", "crash")
    crash_canary = {wl.name: b for wl, b in crash.workloads}["fan-0"]
    assert crash_canary["spec"]["template"]["metadata"]["annotations"] == {
        "reloader-test/crash-when": bad
    }


def test_rolled_counts_the_workloads_whose_var_carries_the_hash() -> None:
    wls = [Workload("Deployment", "ns", f"w{i}") for i in range(3)]
    values = {wls[0]: {"V": "bad"}, wls[1]: {"V": "good"}, wls[2]: {}}
    assert rolled(values, "V", "bad") == 1


def _fan_out(halt: dict[str, Any] | None = None, done: float | None = 41.2) -> dict[str, Any]:
    r: dict[str, Any] = {
        "objects": {"workloads": 50},
        "last_update_all_complete_s": done,
        "all_dependents_changed_s": {"max": 38.0},
        "rollouts_total": 51,
        "updates": 2,
    }
    if halt is not None:
        r["halt"] = halt
    return r


def _halt(count: int, by_controller: bool | None) -> dict[str, Any]:
    return {
        "workloads": 50,
        "rolled_before_halt": count,
        "halted_by_controller": by_controller,
        "halt_visible_after_s": 16.04,
        "watched_after_s": 10.0,
    }


def test_the_fan_out_section_says_how_many_rolled_before_the_halt_and_how_long_all_took() -> None:
    ours = fan_out_lines("s2-halt", _fan_out(_halt(1, True)))
    assert "1 of 50 rolled the bad change (the controller halted the change 16.0 s" in ours[0]
    assert "all 50 rolled and complete 41.2 s after the fix" in ours[1]
    theirs = fan_out_lines("s2-halt", _fan_out(_halt(50, False)))
    assert "50 of 50 rolled the bad change (no halt: every workload rolled it" in theirs[0]
    assert fan_out_lines("idle", {"objects": {}}) == []
    assert render_fan_out({"idle": {"objects": {}}}) == []
    text = render_fan_out({"s2": _fan_out()})
    assert text[1].startswith("Fan-out with waves")
    assert "after the last update" in text[2]


def test_the_halt_target_passes_only_when_the_canary_wave_alone_rolled() -> None:
    def judged(count: int) -> str:
        res = {"s2-halt": {**_fan_out(_halt(count, True)), "api_requests": {}}}
        (target,) = [t for t in targets(res, 1.0) if t.scenario == "s2-halt" and "halt" in t.name]
        return target.status

    assert judged(1) == "PASS"
    assert judged(50) == "MISS"


def test_fan_out_figures_are_compared_only_where_a_side_has_them() -> None:
    plain = {"sync_s": 1.0, "rollouts_total": 10}
    rows = compare.comparison(
        {"s1": plain, "s2-halt": _fan_out(_halt(1, True))},
        {
            "s1": plain,
            "s2-halt": _fan_out(_halt(50, False), done=9.0),
        },
    )
    figures = {(r.scenario, r.figure): r for r in rows}
    assert ("s1", "rolled before the halt") not in figures
    assert ("s1", "all rolled and complete, last update") not in figures
    halt = figures[("s2-halt", "rolled before the halt")]
    assert (halt.ours, halt.theirs, halt.winner) == (1.0, 50.0, "ours")
    done = figures[("s2-halt", "all rolled and complete, last update")]
    assert (done.ours, done.theirs, done.winner) == (41.2, 9.0, "theirs")
