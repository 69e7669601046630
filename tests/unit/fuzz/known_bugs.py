"""Inputs that hit a known, reported bug, so the general properties can step around them.

Each predicate belongs to a strict ``xfail`` test that pins the bug down (named below). When the
controller is fixed, that test starts passing (and fails as XPASS): delete the xfail marker, the
predicate and its ``assume(...)`` calls, and the general properties then cover the input too.
"""

from __future__ import annotations

import csv
import math
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reloader.domain.annotations import split_list
from reloader.domain.durations import parse_duration


def regex_crashes(element: str) -> bool:
    """``re.compile`` raises something else than ``re.error`` (a repeat count ≥ 2**32 raises
    OverflowError, deep nesting RecursionError): test_fuzz_annotations
    ``test_explicit_list_with_an_uncompilable_regex_is_a_warning``."""
    if _nesting(element) > 50:
        return True  # compiling it would recurse deep enough to fail (RecursionError)
    try:
        re.compile(element)
    except re.error:
        return False
    except Exception:  # noqa: BLE001 - that is the point: any other exception is the bug
        return True
    return False


def _nesting(text: str) -> int:
    """An upper bound of the group nesting depth of a pattern."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


def list_has_crashing_regex(value: object) -> bool:
    return isinstance(value, str) and any(regex_crashes(e) for e in split_list(value))


def zone_crashes(zone: str) -> bool:
    """``ZoneInfo`` raises OSError (a tzdata directory such as ``America``, a name too long):
    ``test_reload_window_timezone_that_names_a_directory_is_a_warning`` and
    ``test_flags.test_timezone_flag_naming_a_directory_is_a_config_error``."""
    try:
        ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return False
    except Exception:  # noqa: BLE001
        return True
    return False


def count_crashes(value: str) -> bool:
    """``str.isdigit`` accepts digits ``int`` rejects (superscripts ``²``): test_flags
    ``test_integer_flags_with_non_decimal_digits_are_config_errors``."""
    if not value.isdigit():
        return False
    try:
        int(value)
    except ValueError:
        return True
    return False


def listen_crashes(value: str) -> bool:
    return count_crashes(value.rpartition(":")[2])


def csv_crashes(value: str) -> bool:
    """String-slice flags are read with ``csv.reader``, which raises ``csv.Error`` for a bare
    carriage return or a field over 131,072 characters: test_flags
    ``test_list_flags_that_csv_cannot_read_are_config_errors``."""
    try:
        list(csv.reader([value]))
    except csv.Error:
        return True
    return False


def rate_crashes(value: str) -> bool:
    """``--max-writes-per-second`` of nan or inf: test_flags
    ``test_non_finite_write_rate_is_a_config_error``."""
    try:
        rate = float(value)
    except ValueError:
        return False
    return not math.isfinite(rate)


def duration_is_infinite(value: str) -> bool:
    """A duration whose number overflows a float is accepted as infinite: test_flags
    ``test_durations_too_large_for_a_float_are_config_errors``."""
    try:
        return math.isinf(parse_duration(value))
    except ValueError:
        return False
