"""list_then_watch against a fake API server: pages, bookmarks, 410 relists, reconnects."""

from __future__ import annotations

from contextlib import aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from structlog.testing import capture_logs

from reloader.core.objects import CONFIGMAPS, EventType, WatchEvent
from reloader.kube.watch import list_then_watch
from tests.unit.kube.fake_apiserver import (
    DROP,
    HANG,
    Answer,
    FakeApiServer,
    Send,
    SendRaw,
    bookmark,
    obj,
    status,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence

    from reloader.kube.client import KubeClient

DEADLINE = 5.0
FAST: dict[str, Any] = {"reconnect_backoff": (0.01, 0.05), "inactivity_timeout": 2.0}


@asynccontextmanager
async def watching(
    client: KubeClient, **kwargs: Any
) -> AsyncIterator[AsyncGenerator[WatchEvent, None]]:
    options = {**FAST, **kwargs}
    with anyio.fail_after(DEADLINE):
        async with aclosing(list_then_watch(client, CONFIGMAPS, namespace="ns", **options)) as s:
            yield s


async def take(stream: AsyncGenerator[WatchEvent, None], n: int) -> list[tuple[str, str]]:
    """The next ``n`` events as (type, name) pairs ("" for RESET and SYNCED)."""
    out = []
    for _ in range(n):
        event = await anext(stream)
        name = (event.object or {}).get("metadata", {}).get("name", "")
        out.append((event.type.value, name))
    return out


def listed(*names: str) -> list[tuple[str, str]]:
    return [("RESET", ""), *[("ADDED", n) for n in names], ("SYNCED", "")]


def events_named(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def test_lists_page_by_page_then_watches_from_the_list_version(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj(f"cm-{i}", str(10 + i)) for i in range(5)]
    server.watches.append([Send("ADDED", obj("cm-5", "101")), Send("MODIFIED", obj("cm-1", "102"))])
    async with watching(client, page_size=2) as stream:
        assert await take(stream, 3) == [("RESET", ""), ("ADDED", "cm-0"), ("ADDED", "cm-1")]
        assert len(server.lists()) == 1, "the second page is fetched only when needed"
        assert await take(stream, 4) == [
            ("ADDED", "cm-2"),
            ("ADDED", "cm-3"),
            ("ADDED", "cm-4"),
            ("SYNCED", ""),
        ]
        assert await take(stream, 2) == [("ADDED", "cm-5"), ("MODIFIED", "cm-1")]
    queries = [r.query for r in server.lists()]
    assert [q.get("continue") for q in queries] == [None, "c2", "c4"]
    assert all(q["limit"] == "2" for q in queries)
    watch = server.watch_requests()[0].query
    assert watch["resourceVersion"] == "100"
    assert watch["allowWatchBookmarks"] == "true"
    assert watch["timeoutSeconds"] == "300"


async def test_listed_objects_get_kind_and_api_version(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    async with watching(client) as stream:
        await anext(stream)
        added = await anext(stream)
    assert added.object is not None
    assert (added.object["kind"], added.object["apiVersion"]) == ("ConfigMap", "v1")


async def test_bookmark_moves_the_resume_version_and_is_not_yielded(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    server.watches.append([bookmark("150")])  # then the server ends the stream
    server.watches.append([Send("ADDED", obj("b", "151"))])
    async with watching(client) as stream:
        assert await take(stream, 3) == listed("a")
        assert await take(stream, 1) == [("ADDED", "b")]
    assert [r.query["resourceVersion"] for r in server.watch_requests()] == ["100", "150"]
    assert len(server.lists()) == 1


async def test_error_410_in_the_stream_relists_from_reset(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    server.watches.append(
        [Send("ADDED", obj("x", "101")), Send("ERROR", status(410, "Expired", "too old"))]
    )
    server.watches.append([Send("DELETED", obj("y", "201"))])
    with capture_logs() as logs:
        async with watching(client) as stream:
            assert await take(stream, 4) == [*listed("a"), ("ADDED", "x")]
            server.objects = [obj("a", "1"), obj("x", "101"), obj("y", "150")]
            server.list_resource_version = "200"
            assert await take(stream, 5) == listed("a", "x", "y")
            assert await take(stream, 1) == [("DELETED", "y")]
    assert len(server.lists()) == 2
    assert server.watch_requests()[1].query["resourceVersion"] == "200"
    relists = events_named(logs, "watch.relisting")
    assert [(e["reason"], e["resource"]) for e in relists] == [("gone", "configmaps")]


async def test_410_answer_at_watch_start_relists(server: FakeApiServer, client: KubeClient) -> None:
    server.objects = [obj("a", "1")]
    server.watches.append(Answer(410, status(410, "Expired", "too old resource version")))
    server.watches.append([Send("DELETED", obj("a", "201"))])
    with capture_logs() as logs:
        async with watching(client) as stream:
            assert await take(stream, 3) == listed("a")
            server.list_resource_version = "200"
            assert await take(stream, 4) == [*listed("a"), ("DELETED", "a")]
    assert [r.query["resourceVersion"] for r in server.watch_requests()] == ["100", "200"]
    assert len(events_named(logs, "watch.relisting")) == 1


async def test_expired_continue_token_restarts_the_list(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj(n, "1") for n in "abcde"]
    server.expire_continue = 1
    with capture_logs() as logs:
        async with watching(client, page_size=2) as stream:
            assert await take(stream, 3) == [("RESET", ""), ("ADDED", "a"), ("ADDED", "b")]
            assert await take(stream, 7) == listed(*"abcde")
    assert [r.query.get("continue") for r in server.lists()] == [None, "c2", None, "c2", "c4"]
    relists = events_named(logs, "watch.relisting")
    assert [e["reason"] for e in relists] == ["continue_expired"]


async def test_dropped_connection_resumes_from_the_last_version_without_relist(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    server.watches.append([Send("ADDED", obj("b", "101")), Send("MODIFIED", obj("a", "102")), DROP])
    server.watches.append([Send("MODIFIED", obj("b", "103"))])
    with capture_logs() as logs:
        async with watching(client) as stream:
            events = await take(stream, 6)
    assert events == [*listed("a"), ("ADDED", "b"), ("MODIFIED", "a"), ("MODIFIED", "b")]
    assert [r.query["resourceVersion"] for r in server.watch_requests()] == ["100", "102"]
    assert len(server.lists()) == 1
    reconnects = events_named(logs, "watch.reconnecting")
    assert [e["reason"] for e in reconnects] == ["connection"]
    assert reconnects[0]["resource_version"] == "102"


async def test_silent_connection_is_dropped_after_the_inactivity_timeout(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    server.watches.append([Send("ADDED", obj("b", "101")), HANG])
    server.watches.append([Send("MODIFIED", obj("b", "102"))])
    with capture_logs() as logs:
        async with watching(client, inactivity_timeout=0.3) as stream:
            events = await take(stream, 5)
    assert events == [*listed("a"), ("ADDED", "b"), ("MODIFIED", "b")]
    assert [r.query["resourceVersion"] for r in server.watch_requests()] == ["100", "101"]
    assert len(server.lists()) == 1
    assert [e["reason"] for e in events_named(logs, "watch.reconnecting")] == ["inactivity"]


async def test_bookmarks_keep_a_quiet_watch_alive(
    server: FakeApiServer, client: KubeClient
) -> None:
    """Lines arriving more often than the inactivity timeout never trigger it."""
    server.objects = []
    steps: list[Any] = [bookmark(str(200 + i)) for i in range(3)]
    server.watches.append([*steps, Send("ADDED", obj("late", "300"))])
    with capture_logs() as logs:
        async with watching(client, inactivity_timeout=1.0) as stream:
            assert await take(stream, 3) == [*listed(), ("ADDED", "late")]
    assert events_named(logs, "watch.reconnecting") == []


async def test_server_timeout_rewatches_at_once(server: FakeApiServer, client: KubeClient) -> None:
    """A stream the server ends normally is resumed without any backoff."""
    server.objects = [obj("a", "1")]
    server.watches.append([Send("MODIFIED", obj("a", "101"))])
    server.watches.append([Send("MODIFIED", obj("a", "102"))])
    with capture_logs() as logs:
        async with watching(client, reconnect_backoff=(60.0, 60.0)) as stream:
            events = await take(stream, 5)
    assert events == [*listed("a"), ("MODIFIED", "a"), ("MODIFIED", "a")]
    assert [r.query["resourceVersion"] for r in server.watch_requests()] == ["100", "101"]
    assert events_named(logs, "watch.reconnecting") == []


async def test_other_error_event_resumes_without_relist(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    server.watches.append(
        [Send("ADDED", obj("b", "101")), Send("ERROR", status(500, "InternalError", "boom"))]
    )
    server.watches.append([Send("DELETED", obj("b", "102"))])
    with capture_logs() as logs:
        async with watching(client) as stream:
            events = await take(stream, 5)
    assert events == [*listed("a"), ("ADDED", "b"), ("DELETED", "b")]
    assert [r.query["resourceVersion"] for r in server.watch_requests()] == ["100", "101"]
    assert len(server.lists()) == 1
    errors = events_named(logs, "watch.error_event")
    assert [(e["status"], e["status_reason"]) for e in errors] == [(500, "InternalError")]


async def test_unknown_event_types_are_logged_and_skipped(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = []
    server.watches.append([Send("SURPRISE", obj("odd", "101")), Send("ADDED", obj("b", "102"))])
    with capture_logs() as logs:
        async with watching(client) as stream:
            assert await take(stream, 3) == [*listed(), ("ADDED", "b")]
    assert [e["type"] for e in events_named(logs, "watch.unknown_event")] == ["SURPRISE"]


async def test_unreadable_line_reconnects_and_is_not_logged(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = []
    server.watches.append([SendRaw(b'{"type": "ADDED", "object": {"data": "s3cret"\n')])
    server.watches.append([Send("ADDED", obj("b", "102"))])
    with capture_logs() as logs:
        async with watching(client) as stream:
            assert await take(stream, 3) == [*listed(), ("ADDED", "b")]
    assert [e["reason"] for e in events_named(logs, "watch.reconnecting")] == ["bad_line"]
    assert "s3cret" not in repr(logs)


async def test_forbidden_list_is_retried_and_never_reported_as_empty(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1"), obj("b", "2")]
    for _ in range(3):
        server.list_failures.append(Answer(403, status(403, "Forbidden", "cannot list")))
    with capture_logs() as logs:
        async with watching(client) as stream:
            assert await take(stream, 4) == listed("a", "b")
    assert len(server.lists()) == 4
    failures = events_named(logs, "watch.list_failed")
    assert [(e["status"], e["error"], e["resource"]) for e in failures] == [
        (403, "Forbidden", "configmaps")
    ] * 3
    assert all(e["log_level"] == "warning" for e in failures)


async def test_selectors_are_sent_on_list_and_watch(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = []
    server.watches.append([Send("ADDED", obj("y", "101"))])
    async with watching(client, label_selector="app=x", field_selector="metadata.name=y") as s:
        assert await take(s, 3) == [*listed(), ("ADDED", "y")]
    for request in [*server.lists(), *server.watch_requests()]:
        assert request.query["labelSelector"] == "app=x"
        assert request.query["fieldSelector"] == "metadata.name=y"
        assert request.path == "/api/v1/namespaces/ns/configmaps"


@pytest.mark.parametrize("code", [410, 500])
async def test_repeated_refusals_back_off(
    server: FakeApiServer, client: KubeClient, code: int
) -> None:
    """A watch refused at once, again and again, waits longer each time."""
    server.objects = []
    for _ in range(4):
        server.watches.append(Answer(code, status(code, "Nope")))
    server.watches.append([Send("ADDED", obj("b", "102"))])
    started = anyio.current_time()
    async with watching(client, reconnect_backoff=(0.05, 1.0)) as stream:
        while (await anext(stream)).type is not EventType.ADDED:
            pass
    # delays of at least 0.025, 0.05, 0.1 and 0.2 s (jitter keeps 50-100 % of each)
    assert anyio.current_time() - started >= 0.375


async def test_cancellation_ends_the_stream_even_while_retrying(
    server: FakeApiServer, client: KubeClient
) -> None:
    """CancelledError is never taken for a failure: a cancelled watch stops, whatever it does."""
    for _ in range(1000):
        server.list_failures.append(Answer(500, status(500, "InternalError")))

    async def consume() -> None:
        async for event in list_then_watch(client, CONFIGMAPS, reconnect_backoff=(0.01, 0.01)):
            pytest.fail(f"nothing may be reported while the LIST fails, got {event.type}")

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await server.wait_for(lambda s: len(s.lists()) >= 3)
            tg.cancel_scope.cancel()
    assert 3 <= len(server.lists()) < 1000


async def test_cancellation_while_watching(server: FakeApiServer, client: KubeClient) -> None:
    server.objects = [obj("a", "1")]
    with anyio.fail_after(DEADLINE), anyio.CancelScope() as scope:
        async for event in list_then_watch(client, CONFIGMAPS, namespace="ns"):
            if event.type is EventType.SYNCED:
                scope.cancel()  # the next step awaits the (silent) watch stream
    assert scope.cancelled_caught
