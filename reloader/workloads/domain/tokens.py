"""The write-rate limit's rules: a token bucket, and which waiting write gets the next token.

``--max-writes-per-second`` bounds every write the controller makes to workloads: it is a safety
guard against a storm of writes (a bug, a mass change), so no write is exempt from it. What it
may choose is the *order*: a write that restarts a workload (a change to act on) takes the next
token before the writes that only record something (the first-sight ``applied-hashes`` record of
the initial pass, a digest record), which can wait without anyone noticing. Within each lane,
writes get tokens in the order they asked.

Pure: the caller passes the time in and does the waiting (``workloads/admission.py``).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

#: a refill that falls short of a whole token by less than this counts as one (float rounding
#: after sleeping exactly the computed time must not ask for another sleep of nanoseconds)
_ROUNDING = 1e-9


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` kept; starts full."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, *, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last = now

    def take(self, now: float) -> float:
        """Take a token at ``now``: 0.0 when taken, else the seconds until one is there (none
        taken)."""
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = max(self._last, now)
        if self._tokens >= 1 - _ROUNDING:
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        return (1 - self._tokens) / self.rate


class WaitLine(Generic[T]):
    """The writes waiting for a token: urgent ones (restarts) first, then the others (records),
    each lane in the order they joined. ``head`` is the one whose turn it is."""

    __slots__ = ("_normal", "_urgent")

    def __init__(self) -> None:
        self._urgent: deque[T] = deque()
        self._normal: deque[T] = deque()

    def join(self, item: T, *, urgent: bool) -> None:
        (self._urgent if urgent else self._normal).append(item)

    def leave(self, item: T) -> None:
        """``item`` got its token, or stopped waiting (cancelled)."""
        for lane in (self._urgent, self._normal):
            if lane and lane[0] is item:
                lane.popleft()
                return
            if item in lane:
                lane.remove(item)
                return

    def head(self) -> T | None:
        if self._urgent:
            return self._urgent[0]
        return self._normal[0] if self._normal else None

    def __len__(self) -> int:
        return len(self._urgent) + len(self._normal)
