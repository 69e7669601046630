"""When a workload's pending change may be reconciled: the trailing debounce, as pure functions.

A lone change waits ``debounce`` (a fast reaction on an idle cluster). A change that follows
the previous one within ``BURST_FACTOR`` debounces is part of a burst, and the burst is waited
out with a quiet time of that many debounces: an API server that is busy spreads a burst's
writes further apart than the debounce, and each split would be one more rollout. Whatever
happens, a reload waits at most ``MAX_WAIT_FACTOR`` debounces after the first change.
"""

from __future__ import annotations

BURST_FACTOR = 3
MAX_WAIT_FACTOR = 20


def quiet_time(*, previous_change: float | None, now: float, debounce: float) -> float:
    """The quiet time a change observed at ``now`` waits for, given the one before it."""
    bursting = previous_change is not None and now - previous_change < BURST_FACTOR * debounce
    return debounce * BURST_FACTOR if bursting else debounce


def wait(
    *, first_change: float, last_change: float, quiet: float, now: float, debounce: float
) -> float:
    """Seconds still to wait before reconciling (0: now)."""
    if debounce <= 0 or now - first_change >= MAX_WAIT_FACTOR * debounce:
        return 0.0
    return max(0.0, quiet - (now - last_change))
