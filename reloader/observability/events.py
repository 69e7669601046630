"""Kubernetes Events on workloads: best effort, never fails or slows a reconcile.

The recorder builds a core/v1 Event and queues it; :meth:`EventRecorder.run` (a background task)
posts them through an injected ``post`` coroutine (the app wires it to the API client), so a
reconcile never waits for an Event round trip and this module needs no Kubernetes client.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import anyio
import structlog

log = structlog.get_logger(__name__)

Post = Callable[[str, Mapping[str, Any]], Awaitable[object]]

NORMAL = "Normal"
WARNING = "Warning"


class Identified(Protocol):
    """What an Event needs to name the workload it is about (a cached view or state)."""

    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def uid(self) -> str: ...


def involved_object(api_version: str, obj: Identified) -> dict[str, str]:
    """The ``involvedObject`` of an Event about ``obj``."""
    return {
        "apiVersion": api_version,
        "kind": obj.kind,
        "namespace": obj.namespace,
        "name": obj.name,
        "uid": obj.uid,
    }


class EventRecorder:
    def __init__(self, *, post: Post, component: str = "reloader", capacity: int = 10_000) -> None:
        self._post = post
        self._component = component
        self._instance = socket.gethostname()
        self._send, self._receive = anyio.create_memory_object_stream[Mapping[str, Any]](capacity)

    async def run(self) -> None:
        """Post queued Events until cancelled."""
        async with self._receive:
            async for body in self._receive:
                await self._deliver(body)

    async def _deliver(self, body: Mapping[str, Any]) -> None:
        namespace = str(body["metadata"]["namespace"])
        try:
            await self._post(namespace, body)
        except Exception as exc:  # noqa: BLE001 - an Event is never worth failing a reload
            log.warning(
                "event.failed",
                reason=body.get("reason"),
                namespace=namespace,
                name=body["involvedObject"].get("name"),
                error=str(exc),
            )

    async def record(
        self,
        *,
        involved: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
        component: str | None = None,
    ) -> None:
        """Post one Event about ``involved`` ({apiVersion, kind, namespace, name, uid})."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        namespace = str(involved["namespace"])
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{involved['name']}.{secrets.token_hex(8)}",
                "namespace": namespace,
            },
            "involvedObject": dict(involved),
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": component or self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self._send.send_nowait(body)
        except anyio.WouldBlock:
            log.warning("event.dropped", reason=reason, namespace=namespace, cause="queue full")
