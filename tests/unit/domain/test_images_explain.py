"""explain's image part: statuses and verdict from the controller's own plan."""

from __future__ import annotations

from reloader.commands.domain.images import explain_images
from reloader.images.domain.watch import (
    Container,
    ImageNames,
    WatchSpec,
    format_record,
    read_spec,
)

NAMES = ImageNames()
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
APP, SIDE = "registry.local/app:latest", "registry.local/side:1"


def _spec(record: dict[str, str]) -> WatchSpec:
    containers = (
        Container("app", APP),
        Container("side", SIDE),
        Container("db", f"registry.local/db@{D1}"),
    )
    annotations = {NAMES.watch: "true", NAMES.record: format_record(record)}
    return read_spec(annotations, containers, names=NAMES, default_interval=300, min_interval=60)


def test_a_moved_tag_is_a_roll_and_a_pinned_image_is_not_watchable() -> None:
    report = explain_images(_spec({APP: D1, SIDE: D1}), {APP: (D2, ""), SIDE: (D1, "")})
    assert report.verdict == "roll"
    app, side, db = report.images
    assert (app.status, app.recorded_digest, app.current_digest) == ("moved", D1, D2)
    assert side.status == "in-sync"
    assert db.status == "not-watchable"
    assert db.detail.startswith("pinned by digest")


def test_first_sight_records_and_an_error_is_unknown() -> None:
    report = explain_images(_spec({}), {APP: (D1, ""), SIDE: (None, "HTTP 503")})
    assert report.verdict == "record"
    app, side, _ = report.images
    assert app.status == "not-recorded"
    assert side.status == "unknown"
    assert side.error == "HTTP 503"
    assert "HTTP 503" in side.detail


def test_in_sync_and_unknown_verdicts() -> None:
    assert explain_images(_spec({APP: D1, SIDE: D1}), {APP: (D1, ""), SIDE: (D1, "")}).verdict == (
        "in-sync"
    )
    unknown = explain_images(_spec({APP: D1, SIDE: D1}), {APP: (D1, ""), SIDE: (None, "down")})
    assert unknown.verdict == "unknown"
