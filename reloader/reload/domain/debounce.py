"""When a workload's pending change may be reconciled: the trailing debounce, as pure functions.

A lone change waits one write round trip to the API server (as reloader measures its own
writes), but at least ``LONE_FRACTION`` of the debounce and at most the debounce: long enough
for writes sent together (the sources of one ``kubectl apply`` or Helm release, sent in parallel
or back to back, which the API server answers one after the other) to arrive, short enough for
a fast reaction on an idle cluster. A change that follows the previous one
within ``BURST_FACTOR`` debounces is part of a burst, and the burst is waited out with a quiet
time of that many debounces: an API server that is busy spreads a burst's writes further apart
than the debounce, and each split would be one more rollout. A client writes a burst one
request after the other, each sent when the previous one is answered, so on a machine so busy
that a round trip to the API server takes longer than the debounce, the burst's quiet time is
``ROUND_TRIPS`` of our own recent write round trips instead. Whatever happens, a reload waits at
most ``MAX_WAIT_FACTOR`` debounces after the first change.
"""

from __future__ import annotations

LONE_FRACTION = 0.5
BURST_FACTOR = 3
ROUND_TRIPS = 4
MAX_WAIT_FACTOR = 20
#: weight of the newest write in the moving average of write round trips
ROUND_TRIP_WEIGHT = 0.25


def quiet_time(
    *, previous_change: float | None, now: float, debounce: float, round_trip: float = 0.0
) -> float:
    """The quiet time a change observed at ``now`` waits for, given the one before it and the
    recent round trip of a write to the API server."""
    bursting = previous_change is not None and now - previous_change < BURST_FACTOR * debounce
    if not bursting:
        return min(debounce, max(debounce * LONE_FRACTION, round_trip))
    return max(debounce * BURST_FACTOR, ROUND_TRIPS * round_trip)


def round_trip(previous: float | None, observed: float) -> float:
    """The moving average of write round trips, after one more write took ``observed``."""
    if previous is None:
        return observed
    return previous + ROUND_TRIP_WEIGHT * (observed - previous)


def wait(
    *, first_change: float, last_change: float, quiet: float, now: float, debounce: float
) -> float:
    """Seconds still to wait before reconciling (0: now)."""
    if debounce <= 0 or now - first_change >= MAX_WAIT_FACTOR * debounce:
        return 0.0
    return max(0.0, quiet - (now - last_change))
