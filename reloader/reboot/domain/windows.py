"""Reboot windows: the days and times of day when a node may reboot (kured's ``timewindow``).

``--reboot-days`` takes day names (``su``, ``sun``, ``sunday``…, any case) or numbers 0-6 with
0 = Sunday; the default is every day. ``--start-time`` / ``--end-time`` take ``15:04``,
``15:04:05``, ``03:04pm``, ``15``, ``03pm`` or ``3pm``; the defaults ``0:00`` and ``23:59:59``
cover the whole day. Both ends are inclusive, to the second. A start later than the end wraps
midnight (``22:00``-``04:00``). As in kured, the day filter looks at the *current* date: with
``--reboot-days=sat --start-time=22:00 --end-time=04:00`` Saturday 23:00 is inside and Sunday
01:00 is not.

``--time-zone`` is an IANA zone name (``Europe/Berlin``), ``UTC`` (the default) or ``Local``
(the machine's zone, resolved at each check so daylight saving time is followed).

Pure: the caller passes the instant to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DAY_NAMES", "EVERY_DAY", "RebootWindow", "parse_days", "parse_time_of_day"]

#: day name → Go's time.Weekday number (0 = Sunday)
DAY_NAMES = {
    **dict.fromkeys(("su", "sun", "sunday"), 0),
    **dict.fromkeys(("mo", "mon", "monday"), 1),
    **dict.fromkeys(("tu", "tue", "tuesday"), 2),
    **dict.fromkeys(("we", "wed", "wednesday"), 3),
    **dict.fromkeys(("th", "thu", "thursday"), 4),
    **dict.fromkeys(("fr", "fri", "friday"), 5),
    **dict.fromkeys(("sa", "sat", "saturday"), 6),
}
EVERY_DAY = frozenset(range(7))
_SHORT = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap]m)?$", re.IGNORECASE)


def parse_days(values: Iterable[str]) -> frozenset[int]:
    """Day names or numbers → weekday numbers (0 = Sunday). No values means every day.

    :raises ValueError: an unknown name or a number outside 0-6.
    """
    days: set[int] = set()
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        if value.isdigit():
            number = int(value)
            if not 0 <= number <= 6:
                raise ValueError(f"invalid weekday {raw!r}: numbers are 0 (Sunday) to 6")
            days.add(number)
        elif value.lower() in DAY_NAMES:
            days.add(DAY_NAMES[value.lower()])
        else:
            raise ValueError(f"invalid weekday {raw!r} (use su, mon, tuesday, ... or 0-6)")
    return frozenset(days) if days else EVERY_DAY


def parse_time_of_day(text: str) -> time:
    """``15:04``, ``15:04:05``, ``03:04pm``, ``15``, ``03pm`` or ``3pm`` → a time.

    :raises ValueError: any other form, or an hour, minute or second out of range.
    """
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"invalid time of day {text!r} (use 15:04, 15:04:05, 3pm or 03:04pm)")
    hour, minute, second = (int(g) if g else 0 for g in match.group(1, 2, 3))
    meridian = (match.group(4) or "").lower()
    if meridian:
        if not 1 <= hour <= 12:
            raise ValueError(f"invalid time of day {text!r}: a 12-hour clock hour is 1-12")
        hour = hour % 12 + (12 if meridian == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"invalid time of day {text!r}")
    return time(hour, minute, second)


def parse_zone(name: str) -> tzinfo | None:
    """An IANA zone; ``Local`` (any case) gives None, meaning the machine's zone.

    :raises ValueError: an unknown zone.
    """
    if name.strip().lower() == "local":
        return None
    try:
        return ZoneInfo(name.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC)") from None


@dataclass(frozen=True, slots=True)
class RebootWindow:
    """When reboots may start: some weekdays, between two times of day, in one zone."""

    days: frozenset[int] = EVERY_DAY
    start: time = time(0, 0)
    end: time = time(23, 59, 59)
    #: None: the machine's local zone
    zone: tzinfo | None = UTC
    zone_name: str = "UTC"

    @classmethod
    def parse(cls, *, days: Iterable[str], start: str, end: str, time_zone: str) -> RebootWindow:
        """Build a window from kured's flag values.

        :raises ValueError: naming the bad value.
        """
        return cls(
            days=parse_days(days),
            start=parse_time_of_day(start),
            end=parse_time_of_day(end),
            zone=parse_zone(time_zone),
            zone_name=time_zone.strip() or "UTC",
        )

    def contains(self, now: datetime) -> bool:
        """Whether the aware instant ``now`` is inside the window (both ends inclusive)."""
        if now.tzinfo is None:
            raise ValueError("RebootWindow.contains needs an aware datetime")
        local = now.astimezone(self.zone)
        if (local.weekday() + 1) % 7 not in self.days:
            return False
        t = local.time().replace(microsecond=0)
        if self.start <= self.end:
            return self.start <= t <= self.end
        return t >= self.start or t <= self.end

    @property
    def always(self) -> bool:
        return self.days == EVERY_DAY and self.start == time(0) and self.end >= time(23, 59, 59)

    def describe(self) -> str:
        days = (
            "every day"
            if self.days == EVERY_DAY
            else ",".join(_SHORT[d] for d in sorted(self.days))
        )
        return f"{days} {self.start:%H:%M:%S}-{self.end:%H:%M:%S} {self.zone_name}"
