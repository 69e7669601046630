"""Per-key exponential backoff.

A failing reconcile is retried forever (there is no "give up after N tries" rule, which is how
Reloader loses changes); what bounds the load is the delay between attempts. The delay for a key
doubles with each consecutive failure of that key, from 5 ms up to a cap (5 minutes by default),
exactly like controller-runtime's per-item limiter, so one broken workload backs off without slowing
the others. A server that answers 429 with a Retry-After gets at least that long. Success (or a
deliberate "come back later") calls :meth:`Backoff.forget`, and the next failure starts again at the
base delay.

Jitter is optional and only ever *shortens* a delay (by up to ``jitter`` of it), so the cap stays a
true upper bound while keys that fail together spread out instead of retrying in lockstep.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_BASE", "DEFAULT_CAP", "DEFAULT_FACTOR", "Backoff"]

K = TypeVar("K", bound=Hashable)

DEFAULT_BASE = 0.005
"""Seconds before the first retry: small, so a transient conflict is retried almost at once."""

DEFAULT_FACTOR = 2.0
"""Each consecutive failure doubles the delay."""

DEFAULT_CAP = 300.0
"""Seconds: the longest a failing key waits between attempts (reached after ~16 failures)."""


class Backoff(Generic[K]):
    """Failure counts and retry delays, per key.

    ``random`` returns a float in ``[0, 1)``; inject a fixed one in tests when ``jitter`` is used.
    """

    def __init__(
        self,
        *,
        base: float = DEFAULT_BASE,
        factor: float = DEFAULT_FACTOR,
        cap: float = DEFAULT_CAP,
        jitter: float = 0.0,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if base <= 0:
            raise ValueError("backoff base must be > 0 seconds")
        if factor < 1:
            raise ValueError("backoff factor must be >= 1")
        if cap < base:
            raise ValueError("backoff cap must be >= base")
        if not 0 <= jitter <= 1:
            raise ValueError("backoff jitter must be within [0, 1]")
        self.base = base
        self.factor = factor
        self.cap = cap
        self.jitter = jitter
        self._random = random
        self._failures: dict[K, int] = {}

    def next_delay(self, key: K, *, retry_after: float | None = None) -> float:
        """Record one more failure of ``key`` and return how long to wait before retrying it.

        The delay is ``base * factor ** previous_failures``, capped, optionally shortened by
        jitter; ``retry_after`` (a server's Retry-After, seconds) wins when it is larger, even
        above the cap, since retrying earlier than the server asked only earns another 429.
        """
        previous = self._failures.get(key, 0)
        self._failures[key] = previous + 1
        delay = self._raw_delay(previous)
        if self.jitter:
            delay *= 1.0 - self.jitter * self._random()
        if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
            delay = retry_after
        return delay

    def forget(self, key: K) -> None:
        """Clear the failure history of ``key``: its next failure waits only ``base`` again."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        """Consecutive failures recorded for ``key`` since it was last forgotten."""
        return self._failures.get(key, 0)

    def __len__(self) -> int:
        """How many keys currently have a failure history."""
        return len(self._failures)

    def _raw_delay(self, previous_failures: int) -> float:
        try:
            delay = self.base * self.factor**previous_failures
        except OverflowError:
            return self.cap
        return min(delay, self.cap)
