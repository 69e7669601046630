"""The trailing debounce: a lone change waits half the debounce; a burst waits for a longer
quiet."""

from __future__ import annotations

import pytest

from reloader.reload.domain.debounce import (
    BURST_FACTOR,
    LONE_FRACTION,
    MAX_WAIT_FACTOR,
    ROUND_TRIPS,
    quiet_time,
    round_trip,
    wait,
)

D = 0.05


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        pytest.param(None, D / 2, id="first-change-ever"),
        pytest.param(10.0 - BURST_FACTOR * D, D / 2, id="previous-long-ago"),
        pytest.param(10.0 - 0.06, BURST_FACTOR * D, id="previous-just-before: a burst"),
        pytest.param(10.0, BURST_FACTOR * D, id="simultaneous"),
    ],
)
def test_quiet_time(previous: float | None, expected: float) -> None:
    assert quiet_time(previous_change=previous, now=10.0, debounce=D) == pytest.approx(expected)


def test_a_lone_change_waits_half_the_debounce() -> None:
    """Long enough for writes sent together (measured a few ms apart even on a loaded machine),
    half the idle reaction time of waiting a whole debounce."""
    assert LONE_FRACTION == 0.5
    quiet = quiet_time(previous_change=None, now=10.0, debounce=D)
    assert wait(first_change=10.0, last_change=10.0, quiet=quiet, now=10.0, debounce=D) == D / 2
    assert wait(first_change=10.0, last_change=10.0, quiet=quiet, now=10.015, debounce=D) == (
        pytest.approx(0.01)
    )
    assert wait(first_change=10.0, last_change=10.0, quiet=quiet, now=10.025, debounce=D) == 0.0


def test_writes_sent_together_are_one_burst() -> None:
    """A second change inside the lone change's quiet time turns it into a burst."""
    first = 10.0
    quiet = quiet_time(previous_change=None, now=first, debounce=D)
    second = first + 0.02
    assert wait(first_change=first, last_change=first, quiet=quiet, now=second, debounce=D) > 0
    quiet = quiet_time(previous_change=first, now=second, debounce=D)
    assert quiet == BURST_FACTOR * D
    assert wait(first_change=first, last_change=second, quiet=quiet, now=second + D,
                debounce=D) > 0  # fmt: skip


def test_a_burst_slowed_down_by_the_api_still_rolls_once() -> None:
    """Once two changes came together, gaps longer than the debounce do not split the burst."""
    changes = [10.0, 10.01, 10.08, 10.20, 10.33]  # gaps of 10, 70, 120 and 130 ms
    first, previous, quiet = changes[0], None, D / 2
    for at in changes:
        if previous is not None:  # just before this change, the reload is still waiting
            assert wait(first_change=first, last_change=previous, quiet=quiet, now=at - 1e-3,
                        debounce=D) > 0  # fmt: skip
        quiet = quiet_time(previous_change=previous, now=at, debounce=D)
        previous = at
    last = changes[-1]
    assert wait(first_change=first, last_change=last, quiet=quiet, now=last + 2 * D,
                debounce=D) > 0  # fmt: skip
    assert wait(first_change=first, last_change=last, quiet=quiet, now=last + BURST_FACTOR * D,
                debounce=D) == 0  # fmt: skip


def test_two_changes_further_apart_than_half_the_debounce_roll_twice() -> None:
    """The price of a fast idle reaction: a lone change is reconciled after half the debounce."""
    quiet = quiet_time(previous_change=None, now=10.0, debounce=D)
    assert wait(first_change=10.0, last_change=10.0, quiet=quiet, now=10.0 + D / 2, debounce=D) == 0


def test_the_wait_is_bounded_and_zero_debounce_never_waits() -> None:
    first = 10.0
    late = first + MAX_WAIT_FACTOR * D
    assert wait(first_change=first, last_change=late, quiet=3 * D, now=late, debounce=D) == 0.0
    assert wait(first_change=first, last_change=first, quiet=0, now=first, debounce=0) == 0.0


def test_on_a_busy_api_server_a_burst_waits_a_few_write_round_trips() -> None:
    """A client sends a burst's writes one after the other: when a round trip takes longer than
    the debounce, the gaps inside the burst do too (measured: 100-130 ms writes, 240-310 ms
    between the rounds of the coalesce bench at a load average of 10 on 2 cores)."""
    assert quiet_time(previous_change=9.99, now=10.0, debounce=D, round_trip=0.01) == (
        BURST_FACTOR * D
    ), "an idle API server: the burst quiet time is the debounce's"
    busy = quiet_time(previous_change=9.99, now=10.0, debounce=D, round_trip=0.1)
    assert busy == pytest.approx(ROUND_TRIPS * 0.1)
    assert busy > 0.3


@pytest.mark.parametrize(
    ("round_trip", "expected"),
    [
        pytest.param(0.0, D / 2, id="no-write-yet"),
        pytest.param(0.01, D / 2, id="a-quick-api-server: half the debounce"),
        pytest.param(0.035, 0.035, id="a-busy-one: one round trip"),
        pytest.param(0.5, D, id="never-more-than-the-debounce"),
    ],
)
def test_a_lone_change_waits_one_write_round_trip_within_bounds(
    round_trip: float, expected: float
) -> None:
    """Writes sent together arrive about one round trip apart (the API server answers them one
    after the other): a lone change waits that long, between half the debounce and the debounce.
    """
    quiet = quiet_time(previous_change=None, now=10.0, debounce=D, round_trip=round_trip)
    assert quiet == pytest.approx(expected)


def test_the_round_trip_is_a_moving_average() -> None:
    assert round_trip(None, 0.1) == 0.1
    slow = 0.1
    for _ in range(3):
        slow = round_trip(slow, 0.01)
    assert 0.01 < slow < 0.1, "a few fast writes bring it down, not one"
    assert round_trip(0.01, 1.0) < 0.5, "one slow write does not blow it up"
