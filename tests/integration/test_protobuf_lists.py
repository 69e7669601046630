"""The source informers' LIST in protobuf gives the same views as in JSON (real API server)."""

from __future__ import annotations

import base64
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from reloader.core.annotations import SourceKind
from reloader.core.objects import CONFIGMAPS, SECRETS, EventType, ResourceType
from reloader.kube import resources
from reloader.kube.watch import list_then_watch
from reloader.reload.domain.views import SourceView, summarize_source
from reloader.runtime.informer import Informer
from tests.integration.support import eventually

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient

KINDS = {"ConfigMap": SourceKind.CONFIGMAP, "Secret": SourceKind.SECRET}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
PAGE = 3  # smaller than the number of objects: both formats page


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def bodies(rt: ResourceType) -> list[dict[str, Any]]:
    """Seven objects of every shape, one with 40 KiB values."""
    big = "".join(chr(33 + i % 90) for i in range(40 * 1024))
    out: list[dict[str, Any]] = []
    for i in range(7):
        meta: dict[str, Any] = {"name": f"src-{i}"}
        if i % 2:
            meta["labels"] = {"app": f"a{i}", "tier": "x"}
        if i % 3 == 0:
            meta["annotations"] = {"note": "ü", LAST_APPLIED: "{}"}
        text = {"k": f"v{i}", "k.x": "dotted", "empty": "", "utf": "naïve ☃"}
        if i == 6:
            text["big"] = big
        body: dict[str, Any] = {"metadata": meta}
        if rt is CONFIGMAPS:
            body["data"] = text
            if i == 2:
                body["binaryData"] = {"bin": _b64(bytes(range(256))), "none": ""}
        else:
            body["data"] = {k: _b64(v.encode()) for k, v in text.items()}
            body["data"]["bytes"] = _b64(b"\xff\x00\xfe" + bytes([i]))
        if i == 5:
            del body["data"]  # no data at all
        out.append(body)
    return out


async def synced_views(
    kube: KubeClient, rt: ResourceType, namespace: str, *, protobuf: bool
) -> dict[str, SourceView]:
    """The store of a source informer once synced, listing in protobuf or in JSON."""
    informer: Informer[SourceView] = Informer(
        kind=rt.kind,
        watch=lambda: list_then_watch(
            kube, rt, namespace=namespace, page_size=PAGE, protobuf=protobuf
        ),
        transform=partial(summarize_source, KINDS[rt.kind]),
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(60):
            await informer.synced.wait()
        tg.cancel_scope.cancel()
    return {view.name: view for view in informer.list()}


async def test_protobuf_sync_gives_the_json_views(kube: KubeClient, namespace: str) -> None:
    for rt in (CONFIGMAPS, SECRETS):
        for body in bodies(rt):
            await resources.create(kube, rt, namespace=namespace, body=body)
    for rt in (CONFIGMAPS, SECRETS):
        # ours only: kube-controller-manager creates kube-root-ca.crt in a new namespace when
        # it gets to it, so one sync may see it and the other not
        ours = {f"src-{i}" for i in range(7)}
        json_views = await synced_views(kube, rt, namespace, protobuf=False)
        protobuf_views = await synced_views(kube, rt, namespace, protobuf=True)
        over_json = {name: v for name, v in json_views.items() if name in ours}
        over_protobuf = {name: v for name, v in protobuf_views.items() if name in ours}
        assert set(over_json) == ours
        assert over_protobuf == over_json, rt.plural
        assert len({v.hash for v in over_json.values()}) == len(over_json)


async def test_the_list_is_protobuf_and_the_watch_json(kube: KubeClient, namespace: str) -> None:
    """Secret values arrive as raw bytes from the LIST and as base64 from the WATCH; the views
    of a changed Secret agree between its watch event and a new protobuf LIST."""
    await resources.create(
        kube, SECRETS, namespace=namespace, body={"metadata": {"name": "s"}, "data": {"k": "YQ=="}}
    )
    stream = list_then_watch(kube, SECRETS, namespace=namespace, page_size=PAGE)
    async with aclosing(stream):
        with anyio.fail_after(60):
            listed = [e async for e in _until_synced(stream)]
            value = listed[0].object["data"]["k"]
            assert isinstance(value, memoryview), "asked in protobuf, answered in JSON?"
            assert bytes(value) == b"a"
            await resources.patch(
                kube,
                SECRETS,
                namespace=namespace,
                name="s",
                body={"data": {"k": _b64(b"\xffchanged")}},
                patch_type="merge",
            )
            event = await anext(stream)
    assert event.type is EventType.MODIFIED
    assert event.object is not None
    assert event.object["data"]["k"] == _b64(b"\xffchanged")
    from_watch = summarize_source(SourceKind.SECRET, event.object)

    async def relisted() -> bool:
        views = await synced_views(kube, SECRETS, namespace, protobuf=True)
        return views["s"] == from_watch

    await eventually(relisted, timeout=30, what="a protobuf LIST with the watch's view")


async def _until_synced(stream: Any) -> Any:
    async for event in stream:
        if event.type is EventType.SYNCED:
            return
        if event.type is EventType.ADDED:
            yield event
