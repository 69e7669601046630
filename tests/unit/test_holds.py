"""Holding reloads: the rollout gate, windows, key filters and the write limiter."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import pytest

from reloader.core.objects import ObjectKey
from reloader.reload.domain.filters import filtered_hash, parse_key_filter
from reloader.workloads.admission import FLAPPING, LIMIT, RolloutGate, WriteLimiter
from reloader.workloads.domain.windows import parse_window


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def key(name: str, ns: str = "a") -> ObjectKey:
    return ObjectKey("Deployment", ns, name)


def gate(clock: Clock, *, limit: int = 2, per_ns: int = 0) -> RolloutGate:
    return RolloutGate(
        global_limit=limit,
        namespace_limit=per_ns,
        timeout=60.0,
        flap_max_wait=30.0,
        flap_quiet=5.0,
        now=clock,
    )


def test_limit_admits_in_order_of_first_change_and_frees_on_completion() -> None:
    clock = Clock()
    g = gate(clock, limit=2)
    assert g.check(key("a"), rollout_complete=True) is None
    assert g.check(key("b"), rollout_complete=True) is None
    clock.t += 1
    held_c = g.check(key("c"), rollout_complete=True)
    clock.t += 1
    held_d = g.check(key("d"), rollout_complete=True)
    assert held_c is not None
    assert held_d is not None
    assert held_c.reason == held_d.reason == LIMIT
    assert g.finished(key("a")) == [key("c"), key("d")]
    assert g.check(key("d"), rollout_complete=True) is not None  # c came first
    assert g.check(key("c"), rollout_complete=True) is None


def test_namespace_limit_is_per_namespace() -> None:
    g = gate(Clock(), limit=0, per_ns=1)
    assert g.check(key("a", "x"), rollout_complete=True) is None
    assert g.check(key("b", "y"), rollout_complete=True) is None
    hold = g.check(key("c", "x"), rollout_complete=True)
    assert hold is not None
    assert hold.reason == LIMIT


def test_a_stuck_rollout_stops_counting_after_the_timeout() -> None:
    clock = Clock()
    g = gate(clock, limit=1)
    assert g.check(key("a"), rollout_complete=True) is None
    assert g.check(key("b"), rollout_complete=True) is not None
    clock.t += 61
    assert g.check(key("b"), rollout_complete=True) is None


def test_flapping_holds_while_rolling_then_until_quiet_bounded_by_max_wait() -> None:
    clock = Clock()
    g = gate(clock, limit=0)
    hold = g.check(key("a"), rollout_complete=False, last_change=clock.t)
    assert hold is not None
    assert hold.reason == FLAPPING
    clock.t += 3  # rollout done, but the source changed 1 s ago
    still = g.check(key("a"), rollout_complete=True, last_change=clock.t - 1)
    assert still is not None
    assert still.retry_after == pytest.approx(4.0)
    assert g.check(key("a"), rollout_complete=True, last_change=clock.t - 6) is None
    # a source that never stops changing still rolls after the max wait
    g.check(key("b"), rollout_complete=False, last_change=clock.t)
    clock.t += 31
    assert g.check(key("b"), rollout_complete=True, last_change=clock.t) is None


def test_release_gives_the_slot_back() -> None:
    g = gate(Clock(), limit=1)
    assert g.check(key("a"), rollout_complete=True) is None
    g.release(key("a"))
    assert g.check(key("b"), rollout_complete=True) is None


def test_an_adopted_rollout_takes_a_slot_until_it_completes_or_times_out() -> None:
    clock = Clock()
    g = gate(clock, limit=1)
    g.adopt(key("a"))
    limit = g.check(key("b"), rollout_complete=True)
    assert limit is not None
    assert limit.reason == LIMIT
    assert g.finished(key("a")) == [key("b")]
    assert g.check(key("b"), rollout_complete=True) is None
    g.adopt(key("c"))  # found rolling: counts until the timeout at the latest
    clock.t += 61
    assert g.check(key("d"), rollout_complete=True) is None


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("window", "zone", "at", "wait"),
    [
        pytest.param("Mon-Fri 09:00-17:00", "UTC", "2026-11-24T10:00", 0.0, id="open-tuesday"),
        pytest.param("Mon-Fri 09:00-17:00", "UTC", "2026-11-24T08:00", 3600.0, id="before"),
        pytest.param(
            "Mon-Fri 09:00-17:00",
            "UTC",
            "2026-11-28T10:00",
            2 * 86400 - 3600.0,
            id="saturday-waits-for-monday",
        ),
        pytest.param("22:00-04:00", "UTC", "2026-11-24T02:00", 0.0, id="across-midnight"),
        pytest.param("09:00-17:00", "Europe/Berlin", "2026-11-24T08:30", 0.0, id="time-zone"),
    ],
)
def test_window_wait(window: str, zone: str, at: str, wait: float) -> None:
    assert parse_window(window, zone).wait(_unix(at)) == pytest.approx(wait)


@pytest.mark.parametrize("bad", ["Mon-Fry 09:00-17:00", "9-17", "09:00-09:00", "25:00-26:00"])
def test_bad_windows_are_rejected_with_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match=r"invalid|empty"):
        parse_window(bad)


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_window("09:00-17:00", "Mars/Olympus")


def test_key_filter_parsing_and_digest() -> None:
    filters = parse_key_filter("configmap/app=log-level, flags ; secret/db=password")
    assert filters == {
        "configmap/app": frozenset({"log-level", "flags"}),
        "secret/db": frozenset({"password"}),
    }
    a = filtered_hash({"log-level": "x", "banner": "1"}, filters["configmap/app"])
    b = filtered_hash({"log-level": "x", "banner": "2"}, filters["configmap/app"])
    c = filtered_hash({"log-level": "y", "banner": "1"}, filters["configmap/app"])
    assert a == b != c
    assert a.startswith("keys:")
    with pytest.raises(ValueError, match="configmap/NAME"):
        parse_key_filter("app=key")


async def test_write_limiter_spaces_writes_beyond_the_burst() -> None:
    limiter = WriteLimiter(rate=50.0, burst=2)
    started = anyio.current_time()
    for _ in range(4):
        await limiter.acquire()
    assert anyio.current_time() - started >= 0.035  # two extra tokens at 50/s
