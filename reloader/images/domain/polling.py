"""When to ask a registry again: a grid per reference, backoff, ``Retry-After``, challenges.

Every function takes the time it needs as a parameter; none reads a clock.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: a lookup is never made sooner than this share of the interval after the previous one (the
#: slack that lets a lookup made a little late stay on its reference's grid)
SLACK = 0.1
#: the first backoff of a failing registry, doubled per failure up to the cap
BACKOFF_BASE = 5.0
BACKOFF_CAP = 600.0


def phase(key: str, interval: float) -> float:
    """A fixed offset in ``[0, interval)`` for ``key`` (a hash: the same in every process)."""
    digest = hashlib.sha256(key.encode()).digest()
    share: float = int.from_bytes(digest[:8], "big") / 2**64
    return interval * share


def next_poll(checked_at: float, interval: float, key: str) -> float:
    """When ``key``, last looked up at ``checked_at``, is due again.

    Each reference has a grid of its own: one point per ``interval``, at its :func:`phase`, so
    references sharing an interval are spread over it, and a reference is looked up once per
    interval however late each lookup runs. The next point is the first one at least
    ``(1 - SLACK) * interval`` after the last lookup.
    """
    offset = phase(key, interval)
    earliest = checked_at + (1 - SLACK) * interval
    return offset + math.ceil((earliest - offset) / interval) * interval


def backoff(failures: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to leave a registry alone after ``failures`` consecutive failures (≥ 1)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2.0 ** min(failures - 1, 30)))


def retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; None when absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: ``Bearer realm=…,service=…,scope=…`` or ``Basic``."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header; None when there is none."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        pos = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


def pull_scope(repository: str) -> str:
    """The token scope a tag lookup needs."""
    return f"repository:{repository}:pull"
