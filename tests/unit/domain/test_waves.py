"""The rules of health-gated waves (``workloads/domain/waves.py``)."""

from __future__ import annotations

import pytest

from reloader.core.annotations import AnnotationNames
from reloader.workloads.domain.waves import (
    Go,
    Peer,
    PeerStatus,
    Rollout,
    WaveDecision,
    WaveRecord,
    WaveState,
    canary_count,
    canary_size_for,
    decide,
    governing,
    health_timeout,
    judge,
    judged_failed,
    parse_canary_size,
    read_record,
    record_patch,
    release_requested,
    status_of,
    wave_number,
)

NAMES = AnnotationNames()
P, R, D, F = PeerStatus.PENDING, PeerStatus.ROLLING, PeerStatus.DONE, PeerStatus.FAILED


def _peers(*statuses: PeerStatus, preferred: str = "") -> list[Peer]:
    return [
        Peer(f"deployment/web-{i}", s, preferred=f"deployment/web-{i}" == preferred)
        for i, s in enumerate(statuses)
    ]


def test_one_target_rolls_at_once_without_waves() -> None:
    decision = decide("deployment/web-0", _peers(P), (1, 0.0))
    assert decision.go is Go.ROLL
    assert not decision.waved


def test_canary_size_zero_turns_waves_off() -> None:
    assert decide("deployment/web-3", _peers(P, P, P, P), (0, 0.0)).go is Go.ROLL


def test_the_canary_wave_rolls_the_first_target_by_name_and_holds_the_rest() -> None:
    peers = _peers(P, P, P, P)
    assert decide("deployment/web-0", peers, (1, 0.0)).go is Go.ROLL
    for i in (1, 2, 3):
        decision = decide(f"deployment/web-{i}", peers, (1, 0.0))
        assert decision.go is Go.WAIT
        assert decision.waved
        assert decision.wave == 1


def test_a_preferred_canary_goes_first() -> None:
    peers = _peers(P, P, P, preferred="deployment/web-2")
    assert decide("deployment/web-2", peers, (1, 0.0)).go is Go.ROLL
    assert decide("deployment/web-0", peers, (1, 0.0)).go is Go.WAIT


def test_a_rollout_under_way_holds_the_next_wave() -> None:
    peers = _peers(R, P, P)
    assert decide("deployment/web-1", peers, (1, 0.0)).go is Go.WAIT


def test_waves_double_once_the_rolled_targets_are_healthy() -> None:
    # 1 healthy → the next wave takes the total to 2; 2 → 4; 4 → 8
    assert [decide(f"deployment/web-{i}", _peers(D, P, P), (1, 0.0)).go for i in (1, 2)] == [
        Go.ROLL,
        Go.WAIT,
    ]
    peers = _peers(D, D, P, P, P)
    assert [decide(f"deployment/web-{i}", peers, (1, 0.0)).go for i in (2, 3, 4)] == [
        Go.ROLL,
        Go.ROLL,
        Go.WAIT,
    ]
    assert [wave_number(n, 1) for n in (0, 1, 2, 4, 8)] == [1, 2, 3, 4, 5]


def test_a_failed_target_halts_the_change_for_everyone_not_rolled() -> None:
    peers = _peers(F, P, P)
    decision = decide("deployment/web-2", peers, (1, 0.0))
    assert decision.go is Go.HALTED
    assert decision.failed is not None
    assert decision.failed.name == "deployment/web-0"
    assert (decision.targets, decision.rolled) == (3, 1)


def test_a_released_failure_lets_the_waves_go_on() -> None:
    peers = _peers(PeerStatus.RELEASED, P, P)
    assert decide("deployment/web-1", peers, (1, 0.0)).go is Go.ROLL
    assert decide("deployment/web-2", peers, (1, 0.0)).go is Go.WAIT


def test_a_share_canary_is_at_least_one() -> None:
    assert parse_canary_size("10%") == (0, 0.1)
    assert canary_count((0, 0.1), 5) == 1
    assert canary_count((0, 0.1), 50) == 5
    assert canary_count((3, 0.0), 50) == 3


@pytest.mark.parametrize("text", ["", "x", "-1", "0%", "150%", "1.5"])
def test_bad_canary_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_canary_size(text)


def test_a_bad_canary_size_annotation_warns_and_uses_the_flag() -> None:
    size, warnings = canary_size_for({NAMES.canary_size: "lots"}, NAMES, "2")
    assert size == (2, 0.0)
    assert warnings
    assert NAMES.canary_size in warnings[0]
    assert "lots" in warnings[0]


def test_the_record_round_trips_and_malformed_ones_are_ignored() -> None:
    record = WaveRecord({"configmap/app": "abc"}, 1_700_000_000, WaveState.FAILED, "boom")
    value = record_patch(record, NAMES)["metadata"]["annotations"][NAMES.wave]
    assert read_record({NAMES.wave: value}, NAMES) == record
    for bad in ("{", "[]", '{"changes": {}, "at": 1, "state": "rolling"}', '{"at": true}'):
        assert read_record({NAMES.wave: bad}, NAMES) is None
    consumed = record_patch(record, NAMES, consume_release=True)["metadata"]["annotations"]
    assert consumed[NAMES.release_halted] is None


def test_status_of_a_target() -> None:
    rolling = WaveRecord({"configmap/app": "new"}, 1, WaveState.ROLLING)
    assert status_of(rolling, "configmap/app", "new", rolled=False) is P
    assert status_of(rolling, "configmap/app", "new", rolled=True) is R
    # rolled, but the record is about another version: nothing to judge
    assert status_of(rolling, "configmap/app", "newer", rolled=True) is D
    assert status_of(None, "configmap/app", "new", rolled=True) is D


def test_a_rollout_judged_failed_or_released_is_not_waited_for() -> None:
    for state, failed in ((WaveState.ROLLING, False), (WaveState.HEALTHY, False)):
        value = record_patch(WaveRecord({"c": "h"}, 1, state), NAMES)["metadata"]["annotations"]
        assert judged_failed(value, NAMES) is failed
    for state in (WaveState.FAILED, WaveState.RELEASED):
        value = record_patch(WaveRecord({"c": "h"}, 1, state), NAMES)["metadata"]["annotations"]
        assert judged_failed(value, NAMES)
    assert not judged_failed({}, NAMES)


def test_release_needs_a_true_value() -> None:
    assert release_requested({NAMES.release_halted: "true"}, NAMES)
    assert not release_requested({NAMES.release_halted: "yes please"}, NAMES)
    assert not release_requested({}, NAMES)


def test_health_timeout_annotation_flag_and_progress_deadline() -> None:
    assert health_timeout({}, NAMES, default=0, progress_deadline=None) == (300.0, ())
    assert health_timeout({}, NAMES, default=0, progress_deadline=120) == (96.0, ())
    assert health_timeout({}, NAMES, default=60, progress_deadline=120) == (60.0, ())
    assert (
        health_timeout({NAMES.health_timeout: "20s"}, NAMES, default=60, progress_deadline=None)[0]
        == 20.0
    )
    seconds, warnings = health_timeout(
        {NAMES.health_timeout: "soon"}, NAMES, default=60, progress_deadline=None
    )
    assert seconds == 60.0
    assert NAMES.health_timeout in warnings[0]


T0 = 1_700_000_000


def test_judge() -> None:
    healthy = judge(Rollout(complete=True), since=T0, now=T0 + 5, timeout=60)
    assert healthy.state is WaveState.HEALTHY
    waiting = judge(Rollout(complete=False), since=T0, now=T0 + 5, timeout=60)
    assert waiting.state is WaveState.ROLLING
    assert waiting.retry_after == 55
    late = judge(Rollout(complete=False), since=T0, now=T0 + 61, timeout=60)
    assert late.state is WaveState.FAILED
    assert "within 1m0s" in late.reason
    deadline = judge(Rollout(False, "exceeded its progress deadline"), since=T0, now=T0, timeout=60)
    assert deadline.state is WaveState.FAILED
    assert "deadline" in deadline.reason
    crashed = judge(Rollout(True, "", "pod web-1 is crash looping"), since=T0, now=T0, timeout=60)
    assert (crashed.state, crashed.reason) == (WaveState.FAILED, "pod web-1 is crash looping")


def test_the_strictest_waved_decision_governs_a_workload_rolling_several_changes() -> None:
    roll, wait = WaveDecision(Go.ROLL, waved=True), WaveDecision(Go.WAIT, waved=True)
    halted, alone = WaveDecision(Go.HALTED, waved=True), WaveDecision(Go.ROLL)
    assert governing([alone, alone]) is None
    assert governing([alone, roll, wait, halted]) == 3
    assert governing([roll, wait, wait]) == 1
    assert governing([alone, roll]) == 1
