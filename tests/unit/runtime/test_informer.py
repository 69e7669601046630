from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from structlog.testing import capture_logs

from reloader.core.objects import EventType, ObjectKey, RawObject, WatchEvent
from reloader.runtime.informer import Informer, is_newer
from tests.unit.runtime.support import settle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from reloader.runtime.clock import FakeClock

ADDED, MODIFIED, DELETED = EventType.ADDED, EventType.MODIFIED, EventType.DELETED
RESET = WatchEvent(EventType.RESET)
SYNCED = WatchEvent(EventType.SYNCED)


class Raw(dict[str, Any]):
    """A raw object that can be weakly referenced, to prove the informer drops it."""


@dataclass(frozen=True)
class Cached:
    namespace: str
    name: str
    resource_version: str
    digest: str
    refs: tuple[str, ...] = ()


def raw(name: str, rv: str, *, data: str = "x", refs: tuple[str, ...] = (), ns: str = "ns") -> Raw:
    return Raw(
        metadata={"namespace": ns, "name": name, "resourceVersion": rv},
        data={"value": data},
        refs=list(refs),
    )


def transform(obj: RawObject) -> Cached | None:
    meta = obj["metadata"]
    if meta["name"].startswith("skip"):
        return None
    return Cached(
        namespace=meta["namespace"],
        name=meta["name"],
        resource_version=meta["resourceVersion"],
        digest=f"sha:{obj['data']['value']}",
        refs=tuple(obj["refs"]),
    )


def key(name: str, ns: str = "ns") -> ObjectKey:
    return ObjectKey("ConfigMap", ns, name)


Change = tuple[EventType, str, "str | None", "str | None"]


class Recorder:
    """A handler that records (type, name, old rv, new rv)."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def __call__(
        self, event_type: EventType, key: ObjectKey, old: Cached | None, new: Cached | None
    ) -> None:
        self.changes.append(
            (
                event_type,
                key.name,
                old.resource_version if old else None,
                new.resource_version if new else None,
            )
        )


async def no_watch() -> AsyncIterator[WatchEvent]:
    await anyio.sleep_forever()
    yield SYNCED  # pragma: no cover - never reached


def make_informer(clock: FakeClock | None = None) -> tuple[Informer[Cached], Recorder]:
    informer: Informer[Cached] = Informer(
        kind="ConfigMap", watch=no_watch, transform=transform, clock=clock
    )
    recorder = Recorder()
    informer.add_handler(recorder)
    return informer, recorder


def feed(informer: Informer[Cached], *events: WatchEvent) -> None:
    for event in events:
        informer.apply(event)


def added(obj: RawObject) -> WatchEvent:
    return WatchEvent(ADDED, obj)


def modified(obj: RawObject) -> WatchEvent:
    return WatchEvent(MODIFIED, obj)


def deleted(obj: RawObject) -> WatchEvent:
    return WatchEvent(DELETED, obj)


def test_transform_runs_on_arrival_and_the_raw_object_is_not_kept() -> None:
    informer, recorder = make_informer()
    obj = raw("a", "1", data="secret-value")
    ref = weakref.ref(obj)
    feed(informer, RESET, added(obj), SYNCED)
    del obj
    gc.collect()
    assert ref() is None
    assert informer.get(key("a")) == Cached("ns", "a", "1", "sha:secret-value")
    assert informer.list() == [Cached("ns", "a", "1", "sha:secret-value")]
    assert recorder.changes == [(ADDED, "a", None, "1")]


def test_transform_returning_none_means_not_stored() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, added(raw("skip-me", "1")), SYNCED)
    assert len(informer) == 0
    assert recorder.changes == []


def test_object_that_stops_qualifying_is_removed_with_a_notification() -> None:
    informer: Informer[Cached] = Informer(
        kind="ConfigMap",
        watch=no_watch,
        transform=lambda o: transform(o) if o["data"]["value"] != "drop" else None,
    )
    recorder = Recorder()
    informer.add_handler(recorder)
    feed(informer, RESET, added(raw("a", "1")), SYNCED, modified(raw("a", "2", data="drop")))
    assert key("a") not in informer
    assert recorder.changes == [(ADDED, "a", None, "1"), (DELETED, "a", "1", None)]


def test_watch_changes_notify_with_old_and_new() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, added(raw("a", "1")), SYNCED)
    feed(informer, modified(raw("a", "2", data="y")), deleted(raw("a", "3")))
    assert recorder.changes == [
        (ADDED, "a", None, "1"),
        (MODIFIED, "a", "1", "2"),
        (DELETED, "a", "2", None),
    ]
    assert informer.get(key("a")) is None


def test_delete_of_an_unknown_object_notifies_nothing() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, SYNCED, deleted(raw("ghost", "5")))
    assert recorder.changes == []


def test_relist_deletes_vanished_objects_at_synced_and_notifies() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, added(raw("a", "1")), added(raw("b", "1")), added(raw("c", "1")), SYNCED)
    recorder.changes.clear()
    feed(informer, RESET, added(raw("a", "1")), added(raw("b", "7", data="new")))
    assert key("c") in informer  # not before SYNCED
    feed(informer, SYNCED)
    assert sorted(obj.name for obj in informer.list()) == ["a", "b"]
    assert recorder.changes == [(MODIFIED, "b", "1", "7"), (DELETED, "c", "1", None)]


def test_unchanged_objects_on_relist_notify_nothing() -> None:
    informer, recorder = make_informer()
    listing = [added(raw(name, "4")) for name in ("a", "b", "c")]
    feed(informer, RESET, *listing, SYNCED)
    recorder.changes.clear()
    feed(informer, RESET, *listing, SYNCED)
    assert recorder.changes == []
    assert len(informer) == 3


def test_synced_is_set_after_the_first_listing_only() -> None:
    informer, _ = make_informer()
    assert not informer.synced.is_set()
    feed(informer, RESET, added(raw("a", "1")))
    assert not informer.has_synced
    feed(informer, SYNCED)
    assert informer.synced.is_set()
    feed(informer, RESET)
    assert informer.has_synced  # a relist does not make the cache "unsynced"


def test_indexes_follow_adds_updates_and_deletes() -> None:
    informer, _ = make_informer()
    informer.add_index("by_ref", lambda obj: obj.refs)
    informer.add_index("namespace", lambda obj: [obj.namespace])
    feed(
        informer,
        RESET,
        added(raw("a", "1", refs=("cm1", "cm2"))),
        added(raw("b", "1", refs=("cm2",))),
        added(raw("c", "1", ns="other")),
        SYNCED,
    )
    assert [o.name for o in informer.by_index("by_ref", "cm2")] == ["a", "b"]
    assert [k.name for k in informer.keys_by_index("namespace", "ns")] == ["a", "b"]

    feed(informer, modified(raw("a", "2", refs=("cm3",))))
    assert informer.by_index("by_ref", "cm1") == []
    assert [o.name for o in informer.by_index("by_ref", "cm2")] == ["b"]
    assert [o.resource_version for o in informer.by_index("by_ref", "cm3")] == ["2"]

    feed(informer, deleted(raw("b", "3")))
    assert informer.by_index("by_ref", "cm2") == []
    assert [k.name for k in informer.keys_by_index("namespace", "ns")] == ["a"]

    feed(informer, RESET, added(raw("a", "2", refs=("cm3",))), SYNCED)  # c vanished
    assert informer.keys_by_index("namespace", "other") == []


def test_index_added_late_covers_objects_already_stored() -> None:
    informer, _ = make_informer()
    feed(informer, RESET, added(raw("a", "1", refs=("cm1",))), SYNCED)
    informer.add_index("by_ref", lambda obj: obj.refs)
    assert [o.name for o in informer.by_index("by_ref", "cm1")] == ["a"]
    with pytest.raises(ValueError):
        informer.add_index("by_ref", lambda obj: obj.refs)
    with pytest.raises(KeyError):
        informer.by_index("no-such-index", "x")


def test_upsert_keeps_the_newer_version_only() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, added(raw("a", "10")), SYNCED)
    recorder.changes.clear()
    assert informer.upsert(Cached("ns", "a", "9", "old")) is False
    assert informer.upsert(Cached("ns", "a", "10", "same")) is False
    assert informer.get(key("a")) == Cached("ns", "a", "10", "sha:x")
    assert informer.upsert(Cached("ns", "a", "11", "patched")) is True
    assert informer.get(key("a")) == Cached("ns", "a", "11", "patched")
    assert informer.upsert(Cached("ns", "new", "1", "created")) is True
    assert recorder.changes == [(MODIFIED, "a", "10", "11"), (ADDED, "new", None, "1")]


def test_upsert_accepts_versions_that_are_not_integers() -> None:
    informer, _ = make_informer()
    feed(informer, RESET, added(raw("a", "10")), SYNCED)
    assert informer.upsert(Cached("ns", "a", "opaque-7", "patched")) is True
    assert informer.get(key("a")) == Cached("ns", "a", "opaque-7", "patched")


def test_upserted_version_is_not_overwritten_by_an_older_watch_event() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, added(raw("a", "10")), SYNCED)
    informer.upsert(Cached("ns", "a", "12", "patched"))
    recorder.changes.clear()
    feed(informer, modified(raw("a", "11")))  # somebody else's change, before ours
    assert informer.get(key("a")) == Cached("ns", "a", "12", "patched")
    feed(informer, RESET, added(raw("a", "11")), SYNCED)  # a listing taken before our write
    assert informer.get(key("a")) == Cached("ns", "a", "12", "patched")
    feed(informer, modified(raw("a", "12", data="patched")))  # the watch catches up
    assert recorder.changes == []
    feed(informer, modified(raw("a", "13", data="later")))
    assert recorder.changes == [(MODIFIED, "a", "12", "13")]


def test_object_upserted_during_a_relist_survives_synced() -> None:
    informer, recorder = make_informer()
    feed(informer, RESET, SYNCED, RESET)
    informer.upsert(Cached("ns", "job", "5", "created"))
    feed(informer, SYNCED)
    assert key("job") in informer
    assert [c[0] for c in recorder.changes] == [ADDED]


def test_a_failing_handler_does_not_starve_the_others() -> None:
    informer, recorder = make_informer()

    def broken(*_: object) -> None:
        raise RuntimeError("bug")

    informer.add_handler(broken)
    second = Recorder()
    informer.add_handler(second)
    with capture_logs() as logs:
        feed(informer, RESET, added(raw("a", "1")), SYNCED)
    assert second.changes == recorder.changes == [(ADDED, "a", None, "1")]
    assert ("informer.handler_failed", "error") in [(e["event"], e["log_level"]) for e in logs]


@pytest.mark.parametrize(
    ("candidate", "current", "newer"),
    [
        pytest.param("11", "10", True, id="int-newer"),
        pytest.param("9", "10", False, id="int-older"),
        pytest.param("10", "10", False, id="int-same"),
        pytest.param("100", "99", True, id="int-not-lexical"),
        pytest.param("abc", "10", True, id="opaque-accepted"),
        pytest.param("abc", "abc", False, id="opaque-same"),
    ],
)
def test_is_newer_compares_integers_when_it_can(candidate: str, current: str, newer: bool) -> None:
    assert is_newer(candidate, current) is newer


async def test_run_restarts_a_failed_stream_and_relists(clock: FakeClock) -> None:
    streams: list[list[WatchEvent | Exception]] = [
        [
            RESET,
            added(raw("a", "1")),
            added(raw("b", "1")),
            SYNCED,
            RuntimeError("connection lost"),
        ],
        [RESET, added(raw("b", "2")), SYNCED],
    ]
    opened = 0

    async def watch() -> AsyncIterator[WatchEvent]:
        nonlocal opened
        script = streams[opened]
        opened += 1
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item
        await anyio.sleep_forever()

    informer: Informer[Cached] = Informer(
        kind="ConfigMap", watch=watch, transform=transform, clock=clock
    )
    recorder = Recorder()
    informer.add_handler(recorder)
    with anyio.fail_after(2), capture_logs() as logs:
        async with anyio.create_task_group() as tg:
            tg.start_soon(informer.run)
            await settle()
            assert informer.has_synced
            assert opened == 1
            assert clock.next_deadline() == 1.0  # waits before restarting
            clock.advance(1.0)
            await settle()
            assert opened == 2
            tg.cancel_scope.cancel()
    assert [obj.name for obj in informer.list()] == ["b"]
    assert recorder.changes[-2:] == [(MODIFIED, "b", "1", "2"), (DELETED, "a", "1", None)]
    events = [e["event"] for e in logs]
    assert "informer.watch_failed" in events
    assert "informer.watch_restarting" in events


async def test_a_follower_gets_every_event_of_the_one_stream_under_its_own_transform(
    clock: FakeClock,
) -> None:
    """Two caches of the same objects (reload and schedule controllers): one watch, one list."""
    opened = 0

    async def watch() -> AsyncIterator[WatchEvent]:
        nonlocal opened
        opened += 1
        for item in (RESET, added(raw("a", "1")), added(raw("b", "1")), SYNCED):
            yield item
        yield modified(raw("a", "2", data="y"))
        yield deleted(raw("b", "1"))
        await anyio.sleep_forever()

    leader: Informer[Cached] = Informer(
        kind="ConfigMap", watch=watch, transform=transform, clock=clock
    )
    follower: Informer[str] = Informer(
        kind="ConfigMap",
        watch=None,
        transform=lambda obj: f"{obj['metadata']['name']}@{obj['metadata']['resourceVersion']}",
        version_of=lambda v: v.split("@")[1],
        key_of=lambda v: key(v.split("@")[0]),
    )
    leader.add_follower(follower)
    seen: list[tuple[EventType, str | None]] = []
    follower.add_handler(lambda event, k, old, new: seen.append((event, new)))
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(leader.run)
            await settle()
            tg.cancel_scope.cancel()
    assert opened == 1
    assert follower.has_synced
    assert follower.list() == ["a@2"]
    assert [o.name for o in leader.list()] == ["a"]
    assert seen == [(ADDED, "a@1"), (ADDED, "b@1"), (MODIFIED, "a@2"), (DELETED, None)]


async def test_a_follower_is_never_run_and_cannot_lead() -> None:
    follower: Informer[Cached] = Informer(kind="ConfigMap", watch=None, transform=transform)
    with pytest.raises(RuntimeError, match="follower"):
        await follower.run()
    leader, _ = make_informer()
    with pytest.raises(ValueError, match="no watch of its own"):
        leader.add_follower(leader)
