"""Restart windows: the days and times of day when a workload may restart.

A held reload is not recorded, so the level-triggered reconcile applies it as soon as the hold
ends (the window opens, a slot frees up): nothing is lost, and only the newest content rolls.

Reload window syntax (annotation ``reloader.stakater.com/reload-window`` or ``--reload-window``)::

    [DAYS] HH:MM-HH:MM      e.g. "Mon-Fri 09:00-17:00", "Sat,Sun 00:00-06:00", "22:00-04:00"

DAYS is a comma list of days or day ranges (Mon..Sun); without it every day. An end before the
start crosses midnight (the window belongs to the day it starts on). Times are in the time zone
of ``reloader.stakater.com/reload-window-timezone`` (or ``--reload-window-timezone``), default UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RANGE = re.compile(r"(\d{1,2}:\d{2})-(\d{1,2}:\d{2})")


@dataclass(frozen=True, slots=True)
class Window:
    days: frozenset[int]  # 0 = Monday
    start: int  # minutes after midnight
    end: int
    zone: ZoneInfo

    def wait(self, unix: float) -> float:
        """Seconds until the window is open (0 when it is open now)."""
        local = datetime.fromtimestamp(unix, self.zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        for day_offset in range(-1, 8):
            day = midnight + timedelta(days=day_offset)
            if day.weekday() not in self.days:
                continue
            opens = day + timedelta(minutes=self.start)
            closes = day + timedelta(minutes=self.end + (1440 if self.end <= self.start else 0))
            if opens <= local < closes:
                return 0.0
            if local < opens:
                return (opens - local).total_seconds()
        return 7 * 86400.0  # not reached for a valid window


def _minutes(text: str) -> int:
    hours, minutes = (int(x) for x in text.split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 1440:
        raise ValueError(f"invalid time {text!r}")
    return hours * 60 + minutes


def _days(text: str | None) -> frozenset[int]:
    if not text:
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first[:3] not in DAYS or (last and last[:3] not in DAYS):
            raise ValueError(f"invalid day {part!r} (use Mon..Sun)")
        a, b = DAYS.index(first[:3]), DAYS.index((last or first)[:3])
        out.update((a + i) % 7 for i in range(((b - a) % 7) + 1))
    return frozenset(out)


def parse_window(text: str, timezone: str = "UTC") -> Window:
    """:raises ValueError: with a message quoting the bad part."""
    days_text, _, range_text = text.strip().rpartition(" ")
    m = _TIME_RANGE.fullmatch(range_text.replace(" ", ""))
    if m is None or len(text) > 200:
        raise ValueError(f"invalid reload window {text[:80]!r} (use e.g. 'Mon-Fri 09:00-17:00')")
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # 'America' is a directory
        raise ValueError(f"unknown time zone {timezone!r}") from None
    start, end = _minutes(m.group(1)), _minutes(m.group(2))
    if start == end:
        raise ValueError(f"empty reload window {text!r}")
    return Window(days=_days(days_text.strip()), start=start, end=end, zone=zone)
