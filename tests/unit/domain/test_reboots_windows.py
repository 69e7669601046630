"""Reboot windows (kured's --reboot-days/--start-time/--end-time/--time-zone) and notify URLs."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from reloader.reboot.domain.notify import parse_notify_url
from reloader.reboot.domain.windows import (
    EVERY_DAY,
    RebootWindow,
    parse_days,
    parse_time_of_day,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], EVERY_DAY, id="default-every-day"),
        pytest.param(["su", "MON", "Tuesday"], {0, 1, 2}, id="names-any-case"),
        pytest.param(["0", "6"], {0, 6}, id="numbers"),
        pytest.param(["sat", " "], {6}, id="blank-ignored"),
    ],
)
def test_parse_days(values: list[str], expected: set[int]) -> None:
    assert parse_days(values) == expected


@pytest.mark.parametrize("bad", ["7", "-1", "funday", "mond"])
def test_parse_days_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid weekday"):
        parse_days([bad])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("15:04", time(15, 4), id="hh:mm"),
        pytest.param("0:00", time(0, 0), id="single-digit-hour"),
        pytest.param("15:04:05", time(15, 4, 5), id="hh:mm:ss"),
        pytest.param("03:04pm", time(15, 4), id="12h-minutes"),
        pytest.param("15", time(15), id="hour-only"),
        pytest.param("03pm", time(15), id="padded-pm"),
        pytest.param("3pm", time(15), id="pm"),
        pytest.param("12am", time(0), id="midnight"),
        pytest.param("12pm", time(12), id="noon"),
        pytest.param("23:59:59", time(23, 59, 59), id="end-of-day"),
    ],
)
def test_parse_time_of_day(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("bad", ["24:00", "13pm", "0am", "12:60", "noon", "1:2", ""])
def test_parse_time_of_day_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid time of day"):
        parse_time_of_day(bad)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# 2026-03-07 is a Saturday
@pytest.mark.parametrize(
    ("days", "start", "end", "zone", "now", "inside"),
    [
        pytest.param([], "0:00", "23:59:59", "UTC", "2026-03-07T12:00:00", True, id="default"),
        pytest.param([], "0:00", "23:59:59", "UTC", "2026-03-07T23:59:59.9", True, id="end-incl"),
        pytest.param([], "9", "17", "UTC", "2026-03-07T17:00:00", True, id="end-inclusive"),
        pytest.param([], "9", "17", "UTC", "2026-03-07T17:00:01", False, id="after-end"),
        pytest.param([], "9", "17", "UTC", "2026-03-07T09:00:00", True, id="start-inclusive"),
        pytest.param([], "9", "17", "UTC", "2026-03-07T08:59:59", False, id="before-start"),
        pytest.param(["sat"], "9", "17", "UTC", "2026-03-07T10:00:00", True, id="day-listed"),
        pytest.param(["sun"], "9", "17", "UTC", "2026-03-07T10:00:00", False, id="day-unlisted"),
        pytest.param([], "22:00", "04:00", "UTC", "2026-03-07T23:00:00", True, id="wrap-late"),
        pytest.param([], "22:00", "04:00", "UTC", "2026-03-07T03:00:00", True, id="wrap-early"),
        pytest.param([], "22:00", "04:00", "UTC", "2026-03-07T12:00:00", False, id="wrap-out"),
        pytest.param(
            ["sat"], "22:00", "04:00", "UTC", "2026-03-08T01:00:00", False, id="wrap-uses-date"
        ),
        pytest.param(
            [], "9", "17", "Europe/Berlin", "2026-03-07T16:30:00", False, id="zone-shifts"
        ),
        pytest.param([], "9", "17", "Europe/Berlin", "2026-03-07T15:30:00", True, id="zone-inside"),
        pytest.param(
            ["sun"], "0", "2", "Asia/Tokyo", "2026-03-07T16:00:00", True, id="zone-day-changes"
        ),
    ],
)
def test_window_contains(
    days: list[str], start: str, end: str, zone: str, now: str, inside: bool
) -> None:
    window = RebootWindow.parse(days=days, start=start, end=end, time_zone=zone)
    assert window.contains(_at(now)) is inside


def test_window_local_zone_and_errors() -> None:
    local = RebootWindow.parse(days=[], start="0:00", end="23:59:59", time_zone="Local")
    assert local.zone is None
    assert local.contains(_at("2026-03-07T12:00:00"))
    assert local.always
    with pytest.raises(ValueError, match="unknown time zone"):
        RebootWindow.parse(days=[], start="0", end="1", time_zone="Mars/Base")
    with pytest.raises(ValueError, match="aware"):
        local.contains(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    assert "sat" in RebootWindow.parse(days=["6"], start="1", end="2", time_zone="UTC").describe()


@pytest.mark.parametrize(
    ("url", "kind", "endpoint"),
    [
        pytest.param(
            "slack://AAA/BBB/CCC", "slack", "https://hooks.slack.com/services/AAA/BBB/CCC", id="s"
        ),
        pytest.param(
            "slack://bot@AAA/BBB/CCC",
            "slack",
            "https://hooks.slack.com/services/AAA/BBB/CCC",
            id="slack-botname",
        ),
        pytest.param(
            "slack://hook:AAA-BBB-CCC@webhook",
            "slack",
            "https://hooks.slack.com/services/AAA/BBB/CCC",
            id="slack-hook",
        ),
        pytest.param(
            '"https://hooks.slack.com/services/A/B/C"',
            "slack",
            "https://hooks.slack.com/services/A/B/C",
            id="quoted-https-slack",
        ),
        pytest.param(
            "teams://g@t/alt/owner?host=org.webhook.office.com",
            "teams",
            "https://org.webhook.office.com/webhookb2/g@t/IncomingWebhook/alt/owner",
            id="teams",
        ),
        pytest.param(
            "'https://org.webhook.office.com/webhookb2/x'",
            "teams",
            "https://org.webhook.office.com/webhookb2/x",
            id="quoted-teams",
        ),
        pytest.param(
            "generic://example.com/hook?x=1", "generic", "https://example.com/hook?x=1", id="gen"
        ),
        pytest.param(
            "generic+http://127.0.0.1:9/h", "generic", "http://127.0.0.1:9/h", id="generic-http"
        ),
        pytest.param("http://127.0.0.1:9/h", "generic", "http://127.0.0.1:9/h", id="plain-http"),
    ],
)
def test_notify_urls(url: str, kind: str, endpoint: str) -> None:
    target = parse_notify_url(url)
    assert (target.kind, target.url) == (kind, endpoint)
    assert b"node-1" in target.body("Draining node node-1", node="node-1", event="drain")


@pytest.mark.parametrize(
    "bad", ["smtp://x", "slack://AAA/BBB", "slack://xoxb:tok@chan", "teams://x/y", "https://"]
)
def test_notify_urls_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="notify URL"):
        parse_notify_url(bad)
