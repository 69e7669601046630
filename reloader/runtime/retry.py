"""Optimistic concurrency: redo a step on a fresh read when the server answers 409 Conflict.

Every write of reloader carries the resourceVersion it was planned from, so a stale cache costs a
retry, never a second rollout. :func:`on_conflict` is the one retry loop: it re-reads and plans
again up to ``retries`` times, then lets the Conflict reach the worker, whose per-key backoff
takes over (nothing is dropped).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from reloader.errors import Conflict

S = TypeVar("S")
R = TypeVar("R")

CONFLICT_RETRIES = 5


async def on_conflict(
    step: Callable[[S], Awaitable[R]],
    state: S,
    refresh: Callable[[], Awaitable[S]],
    *,
    retries: int = CONFLICT_RETRIES,
) -> R:
    """``step(state)``; on Conflict, ``step(await refresh())``, at most ``retries`` more times."""
    for _ in range(retries):
        try:
            return await step(state)
        except Conflict:
            state = await refresh()
    return await step(state)
