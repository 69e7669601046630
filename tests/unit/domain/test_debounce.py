"""The trailing debounce: a lone change waits the debounce; a burst waits for a longer quiet."""

from __future__ import annotations

import pytest

from reloader.reload.domain.debounce import BURST_FACTOR, MAX_WAIT_FACTOR, quiet_time, wait

D = 0.05


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        pytest.param(None, D, id="first-change-ever"),
        pytest.param(10.0 - BURST_FACTOR * D, D, id="previous-long-ago"),
        pytest.param(10.0 - 0.06, BURST_FACTOR * D, id="previous-just-before: a burst"),
        pytest.param(10.0, BURST_FACTOR * D, id="simultaneous"),
    ],
)
def test_quiet_time(previous: float | None, expected: float) -> None:
    assert quiet_time(previous_change=previous, now=10.0, debounce=D) == pytest.approx(expected)


def test_a_lone_change_waits_the_debounce() -> None:
    assert wait(first_change=10.0, last_change=10.0, quiet=D, now=10.0, debounce=D) == D
    assert wait(first_change=10.0, last_change=10.0, quiet=D, now=10.03, debounce=D) == (
        pytest.approx(0.02)
    )
    assert wait(first_change=10.0, last_change=10.0, quiet=D, now=10.05, debounce=D) == 0.0


def test_a_burst_slowed_down_by_the_api_still_rolls_once() -> None:
    """Once two changes came together, gaps longer than the debounce do not split the burst."""
    changes = [10.0, 10.01, 10.08, 10.20, 10.33]  # gaps of 10, 70, 120 and 130 ms
    first, previous, quiet = changes[0], None, D
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


def test_two_changes_further_apart_than_the_debounce_roll_twice() -> None:
    """The price of a fast idle reaction: a lone change is reconciled after the debounce."""
    assert wait(first_change=10.0, last_change=10.0, quiet=D, now=10.0 + D, debounce=D) == 0


def test_the_wait_is_bounded_and_zero_debounce_never_waits() -> None:
    first = 10.0
    late = first + MAX_WAIT_FACTOR * D
    assert wait(first_change=first, last_change=late, quiet=3 * D, now=late, debounce=D) == 0.0
    assert wait(first_change=first, last_change=first, quiet=0, now=first, debounce=0) == 0.0
