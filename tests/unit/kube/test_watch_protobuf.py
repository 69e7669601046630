"""list_then_watch LISTs ConfigMaps and Secrets in protobuf, and falls back to JSON."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from structlog.testing import capture_logs

from reloader.core.objects import CONFIGMAPS, SPC_POD_STATUSES, EventType, WatchEvent
from reloader.kube import proto
from reloader.kube.client import KubeClient
from reloader.kube.watch import list_then_watch
from tests.unit.kube.fake_apiserver import Answer, FakeApiServer, Send, obj

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

LISTS = Path(__file__).parent / "lists"
FAST: dict[str, Any] = {"reconnect_backoff": (0.01, 0.05), "inactivity_timeout": 2.0}
PROTOBUF = {"Content-Type": proto.CONTENT_TYPE}


async def until_synced(stream: AsyncGenerator[WatchEvent, None]) -> list[WatchEvent]:
    """The ADDED events of the listing (after its RESET, up to its SYNCED)."""
    out: list[WatchEvent] = []
    while (event := await anext(stream)).type is not EventType.SYNCED:
        if event.type is EventType.ADDED:
            out.append(event)
    return out


async def consume(stream: AsyncGenerator[WatchEvent, None]) -> None:
    async with aclosing(stream):
        async for _ in stream:
            pass


def names(events: list[WatchEvent]) -> list[str]:
    return [(e.object or {})["metadata"]["name"] for e in events]


async def test_the_list_is_asked_and_read_in_protobuf_the_watch_in_json(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.list_failures.append(Answer(200, (LISTS / "configmaps-1.pb").read_bytes(), PROTOBUF))
    server.list_failures.append(Answer(200, (LISTS / "configmaps-2.pb").read_bytes(), PROTOBUF))
    server.watches.append([Send("ADDED", obj("later", "9999"))])
    with anyio.fail_after(5):
        async with aclosing(list_then_watch(client, CONFIGMAPS, namespace="ns", **FAST)) as s:
            listed = await until_synced(s)
            assert (await anext(s)).type is EventType.ADDED
    assert names(listed) == ["binary", "kube-root-ca.crt", "nothing", "text"]
    assert isinstance((listed[0].object or {})["binaryData"]["bin"], memoryview)
    assert [r.headers["Accept"] for r in server.lists()] == [proto.ACCEPT] * 2
    assert server.lists()[1].query["continue"], "the protobuf page's continue token"
    watch = server.watch_requests()[0]
    assert watch.headers["Accept"] == "application/json"
    last_page = proto.list_metadata(CONFIGMAPS, (LISTS / "configmaps-2.pb").read_bytes())
    assert watch.query["resourceVersion"] == last_page["resourceVersion"]


async def test_a_json_answer_to_a_protobuf_list_is_read_as_json(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1"), obj("b", "2")]
    with anyio.fail_after(5):
        async with aclosing(list_then_watch(client, CONFIGMAPS, namespace="ns", **FAST)) as s:
            assert names(await until_synced(s)) == ["a", "b"]
    assert server.lists()[0].headers["Accept"] == proto.ACCEPT


async def test_an_unreadable_protobuf_answer_falls_back_to_json_for_good(
    server: FakeApiServer, kubeconfig: str
) -> None:
    server.objects = [obj(f"cm-{i}", str(i)) for i in range(3)]
    server.list_failures.append(Answer(200, proto.MAGIC + b"\x0a\xff", PROTOBUF))
    fallbacks: list[str] = []
    with capture_logs() as logs, anyio.fail_after(5):
        client = await KubeClient.connect(
            kubeconfig=kubeconfig, on_protobuf_fallback=fallbacks.append
        )
        async with (
            client,
            aclosing(list_then_watch(client, CONFIGMAPS, namespace="ns", page_size=2, **FAST)) as s,
        ):
            assert names(await until_synced(s)) == ["cm-0", "cm-1", "cm-2"]
    accepts = [r.headers["Accept"] for r in server.lists()]
    assert accepts == [proto.ACCEPT, "application/json", "application/json"]
    warnings = [e for e in logs if e["event"] == "watch.protobuf_unreadable"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["resource"] == "configmaps"
    assert fallbacks == ["configmaps"]  # the metric's hook, once


async def test_an_error_status_in_protobuf_is_read_and_retried(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    server.list_failures.append(Answer(400, (LISTS / "status-400.pb").read_bytes(), PROTOBUF))
    with capture_logs() as logs, anyio.fail_after(5):
        async with aclosing(list_then_watch(client, CONFIGMAPS, namespace="ns", **FAST)) as s:
            assert names(await until_synced(s)) == ["a"]
    failed = [e for e in logs if e["event"] == "watch.list_failed"]
    assert [(e["status"], e["status_reason"]) for e in failed] == [(400, "BadRequest")]
    assert "continue" in failed[0]["message"]


async def test_json_when_asked_or_when_there_is_no_protobuf_reader(
    server: FakeApiServer, client: KubeClient
) -> None:
    server.objects = [obj("a", "1")]
    with anyio.fail_after(5):
        async with aclosing(
            list_then_watch(client, CONFIGMAPS, namespace="ns", protobuf=False, **FAST)
        ) as s:
            await until_synced(s)
        # SecretProviderClassPodStatuses are a CRD: the fake serves only configmaps (a 404
        # Status, retried), which is enough to see what was asked
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume, list_then_watch(client, SPC_POD_STATUSES, **FAST))
            await server.wait_for(lambda srv: len(srv.requests) >= 2)
            tg.cancel_scope.cancel()
    assert [r.headers["Accept"] for r in server.requests[:2]] == ["application/json"] * 2
