"""List-then-watch on raw JSON objects, with resumption, relisting and an inactivity timeout.

A generated client's ``Watch`` (kubernetes_asyncio's) builds a model object per event and
retries a 410 with the same expired resourceVersion, so this module owns the loop, as kopf
does (layers, one job each):

- ``list_then_watch`` never ends on its own: it lists, then watches, and starts again with a
  fresh list whenever the API server says the resourceVersion is gone (410);
- ``_list`` pages through the LIST (``limit``/``continue``, so a large collection is never held
  in memory at once) and yields RESET, one ADDED per object, SYNCED; ``_list_page`` asks for
  one page until it gets it, in protobuf for the types ``reloader.kube.proto`` reads
  (ConfigMaps, Secrets: a third less of the API server's CPU, no base64; docs/design/client.md),
  else JSON;
- ``_watch_until_gone`` resumes WATCH streams one after another until a 410;
- ``_watch_once`` owns one WATCH stream from a resourceVersion: it yields the changes, keeps the
  resourceVersion of every event and BOOKMARK, and drops a silent connection after
  ``inactivity_timeout``.

Anything but a 410 (an error answer, an ERROR event, a dropped or silent connection) resumes the
watch from the last resourceVersion after a jittered backoff; only a 410 costs a relist. Errors of
the LIST (a 403 from missing RBAC, say) are logged and retried with backoff: a failed LIST is
never reported as an empty collection. Watches are JSON whatever the LIST's format: one event
per change, small next to the initial LIST.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import structlog

from reloader.core.objects import EventType, ResourceType, WatchEvent
from reloader.errors import Gone, KubeConnectionError, KubeError
from reloader.kube import proto, resources
from reloader.kube.errors import from_response
from reloader.kube.wire import decode_json

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from reloader.kube.wire import QueryValue

log = structlog.get_logger(__name__)

_CHANGES = {
    "ADDED": EventType.ADDED,
    "MODIFIED": EventType.MODIFIED,
    "DELETED": EventType.DELETED,
}


class _Backoff:
    """Exponential delays from ``initial`` doubling up to ``cap``, each jittered to 50-100 %."""

    def __init__(self, initial: float, cap: float) -> None:
        self._initial = initial
        self._cap = cap
        self._attempt = 0

    def next(self) -> float:
        delay = min(self._cap, self._initial * 2.0**self._attempt)
        self._attempt = min(self._attempt + 1, 32)
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        self._attempt = 0


@dataclass(slots=True)
class _Target:
    """What is watched, and where the watch resumes."""

    client: KubeClient
    rt: ResourceType
    namespace: str | None
    label_selector: str | None
    field_selector: str | None
    list_backoff: _Backoff
    watch_backoff: _Backoff
    #: LIST in protobuf (cleared for good if an answer could not be read)
    protobuf: bool = False
    resource_version: str | None = None

    @property
    def resource(self) -> str:
        """kubectl's name for the resource type, for logs: ``deployments.apps``."""
        return f"{self.rt.plural}.{self.rt.group}" if self.rt.group else self.rt.plural


class _Interrupted(Exception):
    """Raised when a watch stream went silent or sent something unreadable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def list_then_watch(
    client: KubeClient,
    rt: ResourceType,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page_size: int = 500,
    inactivity_timeout: float = 70.0,
    reconnect_backoff: tuple[float, float] = (0.2, 5.0),
    timeout_seconds: int = 300,
    protobuf: bool = True,
) -> AsyncGenerator[WatchEvent, None]:
    """Yield RESET, ADDED per existing object, SYNCED, then changes; forever.

    After a 410 the sequence starts again with RESET (see ``EventType``). Ends only when
    cancelled or closed; close it with ``contextlib.aclosing``.

    :param namespace: None watches all namespaces.
    :param page_size: objects per LIST page.
    :param inactivity_timeout: seconds without any line (event or bookmark) before the
        connection is considered dead and the watch resumes on a new one.
    :param reconnect_backoff: (first, cap) seconds between failed attempts, jittered.
    :param timeout_seconds: the server ends each watch after this long; it is then resumed.
    :param protobuf: LIST in protobuf when ``reloader.kube.proto`` reads ``rt``'s lists.
    """
    target = _Target(
        client=client,
        rt=rt,
        namespace=namespace,
        label_selector=label_selector,
        field_selector=field_selector,
        list_backoff=_Backoff(*reconnect_backoff),
        watch_backoff=_Backoff(*reconnect_backoff),
        protobuf=protobuf and proto.lists(rt),
    )
    while True:
        async with aclosing(_list(target, page_size=page_size)) as listing:
            async for event in listing:
                yield event
        async with aclosing(
            _watch_until_gone(
                target, inactivity_timeout=inactivity_timeout, timeout_seconds=timeout_seconds
            )
        ) as changes:
            async for event in changes:
                yield event


async def _watch_until_gone(
    target: _Target, *, inactivity_timeout: float, timeout_seconds: int
) -> AsyncGenerator[WatchEvent, None]:
    """WATCH streams one after another from ``target.resource_version``; ends on a 410.

    Any other failure resumes the watch after a backoff; a stream the server ends (its
    ``timeoutSeconds``) resumes at once, or after a backoff if it sent nothing.
    """
    while True:
        received = 0
        try:
            async with aclosing(
                _watch_once(
                    target,
                    inactivity_timeout=inactivity_timeout,
                    timeout_seconds=timeout_seconds,
                )
            ) as stream:
                async for item in stream:
                    received += 1
                    if item is not None:
                        yield item
        except Gone as exc:
            log.info(
                "watch.relisting",
                resource=target.resource,
                namespace=target.namespace,
                reason="gone",
                status_reason=exc.reason,
            )
            if received == 0:  # refused at once: do not spin between LIST and WATCH
                await anyio.sleep(target.watch_backoff.next())
            return
        except (KubeError, _Interrupted) as exc:
            await _wait_to_reconnect(target, exc)
            continue
        # The server closed the stream normally (timeoutSeconds): resume at once, unless it
        # closed it without sending anything, which must not become a busy loop.
        log.debug(
            "watch.stream_ended",
            resource=target.resource,
            namespace=target.namespace,
            resource_version=target.resource_version,
            lines=received,
        )
        if received == 0:
            await anyio.sleep(target.watch_backoff.next())


async def _wait_to_reconnect(target: _Target, exc: KubeError | _Interrupted) -> None:
    """Log why the watch broke off, then wait out the backoff before it resumes."""
    delay = target.watch_backoff.next()
    log.warning(
        "watch.reconnecting",
        resource=target.resource,
        namespace=target.namespace,
        reason=_reason_of(exc),
        error=type(exc).__name__,
        status=getattr(exc, "status", 0),
        resource_version=target.resource_version,
        delay_s=round(delay, 3),
    )
    await anyio.sleep(delay)


def _reason_of(exc: Exception) -> str:
    if isinstance(exc, _Interrupted):
        return exc.reason
    if isinstance(exc, KubeConnectionError):
        return "connection"
    return "error"


async def _list(target: _Target, *, page_size: int) -> AsyncGenerator[WatchEvent, None]:
    """RESET, ADDED per object page by page, SYNCED; sets ``target.resource_version``.

    A 410 on a ``continue`` starts the list again, with a new RESET. Other errors retry the
    same page after a backoff, forever, logging each failure.
    """
    continue_token: str | None = None
    started = False
    while True:
        try:
            page = await _list_page(target, page_size=page_size, continue_token=continue_token)
        except Gone as exc:
            log.info(
                "watch.relisting",
                resource=target.resource,
                namespace=target.namespace,
                reason="continue_expired",
                status_reason=exc.reason,
            )
            continue_token = None
            started = False
            await anyio.sleep(target.list_backoff.next())
            continue
        target.list_backoff.reset()
        if not started:
            started = True
            yield WatchEvent(EventType.RESET)
        for item in page.get("items") or []:
            if isinstance(item, dict):
                item.setdefault("apiVersion", target.rt.api_version)
                item.setdefault("kind", target.rt.kind)
                yield WatchEvent(EventType.ADDED, item)
        meta = page.get("metadata") or {}
        continue_token = meta.get("continue") or None
        if continue_token is None:
            target.resource_version = meta.get("resourceVersion") or None
            log.debug(
                "watch.listed",
                resource=target.resource,
                namespace=target.namespace,
                resource_version=target.resource_version,
            )
            yield WatchEvent(EventType.SYNCED)
            return


async def _list_page(
    target: _Target, *, page_size: int, continue_token: str | None
) -> dict[str, Any]:
    """One LIST page; any error but a 410 is logged and the page asked again after a backoff.

    :raises Gone: ``continue_token`` expired.
    """
    while True:
        try:
            return await resources.list_page(
                target.client,
                target.rt,
                namespace=target.namespace,
                label_selector=target.label_selector,
                field_selector=target.field_selector,
                limit=page_size,
                continue_token=continue_token,
                protobuf=target.protobuf,
            )
        except Gone:
            raise
        except proto.ProtobufError as exc:
            # a bug of ours or a proxy that mangles the answer: JSON from now on (a continue
            # token is the same in both formats, so the listing goes on where it was)
            log.warning(
                "watch.protobuf_unreadable",
                resource=target.resource,
                namespace=target.namespace,
                message=exc.message,
            )
            target.client.protobuf_fallback(target.resource)
            target.protobuf = False
        except KubeError as exc:
            delay = target.list_backoff.next()
            log.warning(
                "watch.list_failed",
                resource=target.resource,
                namespace=target.namespace,
                error=type(exc).__name__,
                status=exc.status,
                status_reason=exc.reason,
                message=exc.message,
                delay_s=round(delay, 3),
            )
            await anyio.sleep(delay)


async def _watch_once(
    target: _Target, *, inactivity_timeout: float, timeout_seconds: int
) -> AsyncGenerator[WatchEvent | None, None]:
    """One WATCH stream from ``target.resource_version``; ends when the server ends it.

    Yields None for lines that are not yielded as events (bookmarks, unknown types), so that
    the caller can tell a stream that sent something from one that sent nothing.

    :raises Gone: the resourceVersion expired (answer or ERROR event): relist.
    :raises KubeError: another error answer or ERROR event, or a broken connection.
    :raises _Interrupted: nothing arrived for ``inactivity_timeout``, or a line was unreadable.
    """
    query: dict[str, QueryValue] = {
        "watch": True,
        "allowWatchBookmarks": True,
        "timeoutSeconds": timeout_seconds,
    }
    if target.resource_version:
        query["resourceVersion"] = target.resource_version
    if target.label_selector:
        query["labelSelector"] = target.label_selector
    if target.field_selector:
        query["fieldSelector"] = target.field_selector
    path = target.rt.path(namespace=target.namespace)
    async with aclosing(target.client.stream_lines(path, query=query)) as lines:
        while True:
            with anyio.move_on_after(inactivity_timeout) as scope:
                try:
                    line = await anext(lines)
                except StopAsyncIteration:
                    return
            if scope.cancelled_caught:
                raise _Interrupted("inactivity")
            if line.strip():
                target.watch_backoff.reset()
                yield _event_of(target, line)


def _event_of(target: _Target, line: bytes) -> WatchEvent | None:
    """The event of one watch line; updates the resourceVersion; raises for ERROR events."""
    try:
        raw = decode_json(line)
    except msgspec.DecodeError:
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("object"), dict):
        log.warning("watch.bad_line", resource=target.resource, length=len(line))
        raise _Interrupted("bad_line")
    kind: Any = raw.get("type")
    obj: dict[str, Any] = raw["object"]
    if kind == "ERROR":
        code = obj.get("code")
        status = code if isinstance(code, int) else 500
        error = from_response(status, msgspec.json.encode(obj), None)
        if not isinstance(error, Gone):
            log.warning(
                "watch.error_event",
                resource=target.resource,
                namespace=target.namespace,
                status=status,
                status_reason=error.reason,
                message=error.message,
            )
        raise error
    meta = obj.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
    if isinstance(version, str) and version:
        target.resource_version = version
    if kind == "BOOKMARK":
        return None
    change = _CHANGES.get(kind) if isinstance(kind, str) else None
    if change is None:
        log.warning("watch.unknown_event", resource=target.resource, type=str(kind)[:64])
        return None
    return WatchEvent(change, obj)
