from __future__ import annotations

from typing import Any

import pytest

from reloader.runtime.backoff import Backoff


def test_delay_doubles_from_five_milliseconds() -> None:
    backoff: Backoff[str] = Backoff()
    delays = [backoff.next_delay("a") for _ in range(5)]
    assert delays == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert backoff.failures("a") == 5


def test_delay_is_capped() -> None:
    backoff: Backoff[str] = Backoff(cap=1.0)
    delays = [backoff.next_delay("a") for _ in range(12)]
    assert max(delays) == 1.0
    assert delays[-4:] == [1.0, 1.0, 1.0, 1.0]
    assert delays[7] == pytest.approx(0.64)


def test_default_cap_is_five_minutes_and_many_failures_do_not_overflow() -> None:
    backoff: Backoff[str] = Backoff()
    for _ in range(5_000):
        delay = backoff.next_delay("a")
    assert delay == 300.0
    assert backoff.failures("a") == 5_000


def test_keys_back_off_independently() -> None:
    backoff: Backoff[str] = Backoff()
    for _ in range(4):
        backoff.next_delay("a")
    assert backoff.next_delay("b") == pytest.approx(0.005)
    assert backoff.failures("a") == 4
    assert backoff.failures("b") == 1


def test_forget_resets_to_the_base_delay() -> None:
    backoff: Backoff[str] = Backoff()
    for _ in range(6):
        backoff.next_delay("a")
    backoff.forget("a")
    assert backoff.failures("a") == 0
    assert len(backoff) == 0
    assert backoff.next_delay("a") == pytest.approx(0.005)
    backoff.forget("never-seen")  # no error


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(7.0, 7.0, id="larger-retry-after-wins"),
        pytest.param(0.001, 0.005, id="smaller-retry-after-ignored"),
        pytest.param(None, 0.005, id="no-retry-after"),
        pytest.param(float("inf"), 0.005, id="infinite-retry-after-ignored"),
    ],
)
def test_retry_after_is_honoured_when_larger(retry_after: float | None, expected: float) -> None:
    backoff: Backoff[str] = Backoff()
    assert backoff.next_delay("a", retry_after=retry_after) == pytest.approx(expected)


def test_retry_after_may_exceed_the_cap() -> None:
    backoff: Backoff[str] = Backoff(cap=1.0)
    assert backoff.next_delay("a", retry_after=30.0) == 30.0


def test_jitter_only_shortens_delays() -> None:
    backoff: Backoff[str] = Backoff(cap=1.0, jitter=0.5, random=lambda: 0.999)
    for _ in range(20):
        delay = backoff.next_delay("a")
    assert 0.5 <= delay < 1.0
    assert delay == pytest.approx(1.0 * (1 - 0.5 * 0.999))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"base": 0.0}, id="zero-base"),
        pytest.param({"factor": 0.5}, id="shrinking-factor"),
        pytest.param({"base": 2.0, "cap": 1.0}, id="cap-below-base"),
        pytest.param({"jitter": 1.5}, id="jitter-above-one"),
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
