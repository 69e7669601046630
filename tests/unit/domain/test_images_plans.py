"""The image-watch annotations, the level-triggered plan and poll timing."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from reloader.images.domain.plans import Move, pin_patch, plan_images
from reloader.images.domain.polling import (
    backoff,
    next_poll,
    parse_challenge,
    phase,
    retry_after,
)
from reloader.images.domain.references import parse_image
from reloader.images.domain.views import summarize_images
from reloader.images.domain.watch import (
    Container,
    ImageNames,
    WatchSpec,
    format_record,
    read_record,
    read_spec,
)
from reloader.workloads.domain.kinds import KINDS

NAMES = ImageNames()
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
CONTAINERS = (
    Container("app", "registry.local/app:latest"),
    Container("side", "registry.local/side:1"),
    Container("pinned", f"registry.local/db@{D1}"),
)


def _spec(annotations: dict[str, str], containers: tuple[Container, ...] = CONTAINERS) -> WatchSpec:
    return read_spec(annotations, containers, names=NAMES, default_interval=300, min_interval=60)


def test_without_the_annotation_nothing_is_watched() -> None:
    assert not _spec({}).enabled
    assert not _spec({NAMES.watch: "false"}).enabled


def test_all_containers_or_the_named_ones() -> None:
    every = _spec({NAMES.watch: "true"})
    assert [str(r) for r in every.watched] == [
        "registry.local/app:latest",
        "registry.local/side:1",
    ]
    pinned = next(i for i in every.images if i.container == "pinned")
    assert pinned.unwatchable.startswith("pinned by digest")
    named = _spec({NAMES.watch: "side, nope"})
    assert [str(r) for r in named.watched] == ["registry.local/side:1"]
    assert named.warnings == (f"annotation {NAMES.watch}: no container named nope",)


def test_two_containers_on_one_image_are_one_reference() -> None:
    spec = _spec(
        {NAMES.watch: "true"},
        (Container("a", "nginx"), Container("b", "docker.io/library/nginx:latest")),
    )
    assert [str(r) for r in spec.watched] == ["docker.io/library/nginx:latest"]


@pytest.mark.parametrize(
    ("value", "interval", "warned"),
    [(None, 300, False), ("2m", 120, False), ("10s", 60, True), ("soon", 300, True)],
)
def test_the_interval_is_never_below_the_minimum(
    value: str | None, interval: float, warned: bool
) -> None:
    annotations = {NAMES.watch: "true"}
    if value is not None:
        annotations[NAMES.interval] = value
    spec = _spec(annotations)
    assert spec.interval == interval
    assert bool(spec.warnings) is warned


def test_the_record_round_trips_and_a_broken_one_is_recorded_anew() -> None:
    record = {"b": D2, "a": D1}
    text = format_record(record)
    assert text == f'{{"a":"{D1}","b":"{D2}"}}'
    assert read_record({NAMES.record: text}, names=NAMES) == record
    warnings: list[str] = []
    assert read_record({NAMES.record: "[1]"}, names=NAMES, warnings=warnings) == {}
    assert "recorded anew" in warnings[0]


APP = parse_image("registry.local/app:latest")
SIDE = parse_image("registry.local/side:1")


def test_first_sight_records_and_rolls_nothing() -> None:
    plan = plan_images([APP], {}, {str(APP): D1})
    assert not plan.rolls
    assert plan.record == {str(APP): D1}
    assert plan.adopted == (str(APP),)


def test_in_sync_writes_nothing() -> None:
    plan = plan_images([APP], {str(APP): D1}, {str(APP): D1})
    assert plan.record is None
    assert not plan.rolls


def test_a_moved_tag_rolls_once_and_records_the_new_digest() -> None:
    plan = plan_images([APP, SIDE], {str(APP): D1, str(SIDE): D1}, {str(APP): D2, str(SIDE): D1})
    assert plan.moves == (Move(str(APP), D1, D2),)
    assert plan.record == {str(APP): D2, str(SIDE): D1}
    again = plan_images([APP, SIDE], plan.record, {str(APP): D2, str(SIDE): D1})
    assert not again.rolls
    assert again.record is None


def test_an_unknown_digest_keeps_the_record_and_decides_nothing() -> None:
    plan = plan_images([APP], {str(APP): D1}, {str(APP): None})
    assert plan.record is None
    assert not plan.rolls
    assert plan_images([APP], {}, {str(APP): None}).record is None


def test_an_image_no_longer_watched_leaves_the_record() -> None:
    plan = plan_images([SIDE], {str(APP): D1, str(SIDE): D1}, {str(SIDE): D1})
    assert plan.record == {str(SIDE): D1}
    assert not plan.rolls


def test_each_reference_has_a_grid_of_its_own() -> None:
    a, b = phase("registry.local/app:latest", 300), phase("registry.local/side:1", 300)
    assert a == phase("registry.local/app:latest", 300)
    assert 0 <= a < 300
    assert 0 <= b < 300
    assert a != b
    # on time, or a little late: the next point of the grid, one interval on
    start = 3000 + phase("x", 300)
    assert next_poll(start, 300, "x") == start + 300
    assert next_poll(start + 20, 300, "x") == start + 300
    # early within the slack: still the next point, never closer than 0.9 interval
    assert next_poll(start - 20, 300, "x") == start + 300
    # long after (a backoff): the first point at least 0.9 interval later
    assert next_poll(start + 100, 300, "x") == start + 600
    checks = [0.0]
    for _ in range(100):
        checks.append(next_poll(checks[-1] + 3, 300, "y"))  # each lookup runs 3 s late
    assert all(abs(b - a - 300) < 1e-6 for a, b in pairwise(checks[1:]))


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in range(5)] == [0, 5, 10, 20, 40]
    assert backoff(100) == 600


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after("30", now) == 30
    assert retry_after("Thu, 01 Jan 2026 12:01:00 GMT", now) == 60
    assert retry_after("later", now) is None
    assert retry_after(None, now) is None


def test_challenges() -> None:
    bearer = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:org/app:pull"'
    )
    assert bearer is not None
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:org/app:pull",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None
    assert basic.scheme == "basic"
    assert parse_challenge("") is None


def test_only_opted_in_workloads_are_cached() -> None:
    kind = KINDS["Deployment"]
    obj: dict[str, Any] = {
        "metadata": {"namespace": "ns", "name": "web", "annotations": {NAMES.watch: "true"}},
        "spec": {
            "template": {
                "spec": {
                    "serviceAccountName": "builder",
                    "imagePullSecrets": [{"name": "pull"}],
                    "initContainers": [{"name": "init", "image": "busybox"}],
                    "containers": [{"name": "app", "image": "nginx"}],
                }
            }
        },
    }
    view = summarize_images(kind, obj, watch_key=NAMES.watch, keep=NAMES.keys())
    assert view is not None
    assert view.containers == (Container("init", "busybox", init=True), Container("app", "nginx"))
    assert view.pull_secrets == ("pull",)
    assert view.service_account == "builder"
    assert (view.namespace, view.name) == ("ns", "web")
    obj["metadata"] = {"namespace": "ns", "name": "web"}
    assert summarize_images(kind, obj, watch_key=NAMES.watch, keep=NAMES.keys()) is None


def test_pinning_watches_the_tag_of_a_pinned_image_and_its_digest_is_the_record() -> None:
    containers = (
        Container("app", f"registry.local/app:latest@{D1}"),
        Container("init", "registry.local/init:2", init=True),
        Container("fixed", f"registry.local/db@{D1}"),  # no tag: nothing to follow
    )
    spec = _spec({NAMES.watch: "true", NAMES.pin: "true", NAMES.record: "{}"}, containers)
    assert spec.pin
    assert [str(r) for r in spec.watched] == ["registry.local/app:latest", "registry.local/init:2"]
    assert spec.recorded == {"registry.local/app:latest": D1}
    fixed = next(i for i in spec.images if i.container == "fixed")
    assert fixed.unwatchable.startswith("pinned by digest")
    # without pinning, the same image is not watchable
    plain = _spec({NAMES.watch: "true"}, containers)
    assert [str(r) for r in plain.watched] == ["registry.local/init:2"]


def test_a_bad_pin_value_warns_and_does_not_pin() -> None:
    spec = _spec({NAMES.watch: "true", NAMES.pin: "yes"})
    assert not spec.pin
    assert spec.warnings == (f'annotation {NAMES.pin}: "yes" is not a boolean; not pinning',)


def test_the_pin_patch_writes_the_new_digest_into_the_containers_that_moved() -> None:
    containers = (
        Container("app", f"registry.local/app:latest@{D1}"),
        Container("side", "registry.local/app:latest"),
        Container("init", "registry.local/init:2", init=True),
        Container("other", "registry.local/other:1"),
    )
    spec = _spec({NAMES.watch: "true", NAMES.pin: "true"}, containers)
    moves = (Move("registry.local/app:latest", D1, D2), Move("registry.local/init:2", D1, D2))
    patch = pin_patch(KINDS["Deployment"], spec.images, moves)
    assert patch == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": f"registry.local/app:latest@{D2}"},
                        {"name": "side", "image": f"registry.local/app:latest@{D2}"},
                    ],
                    "initContainers": [{"name": "init", "image": f"registry.local/init:2@{D2}"}],
                }
            }
        }
    }
    cronjob = pin_patch(KINDS["CronJob"], spec.images, moves[:1])
    assert "jobTemplate" in cronjob["spec"]
    assert pin_patch(KINDS["Deployment"], spec.images, ()) == {}
