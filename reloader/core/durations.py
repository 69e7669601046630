"""Go-style durations (``300ms``, ``1.5h``, ``2h45m``), as Reloader's flags and annotations use,
and the one way instants are written to annotations (``format_time``).

Go's ``time.ParseDuration`` grammar: an optional sign, then one or more decimal numbers each with
a unit (ns, us, µs, ms, s, m, h); "0" alone is allowed. Returns seconds as a float.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Parse a Go duration into seconds.

    :raises ValueError: with a message quoting the text when it is not a valid duration.
    """
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = 0.0, 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            raise ValueError(
                f"invalid duration {text!r}: expected numbers with units (ms, s, m, h)"
            )
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not math.isfinite(total):
        raise ValueError(f"invalid duration {text[:80]!r}: too large")
    return sign * total


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second: how instants are written to annotations."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
