"""Kubernetes Events about Nodes, posted at once (not queued): best effort, never fails a step.

The agent records a step right before it may lose the machine (``Rebooting``), so the Event is
posted before the step goes on rather than left in a queue that the reboot would drop. An Event
about a Node lives in the ``default`` namespace while its involvedObject, cluster-scoped, has no
namespace, which is where ``kubectl describe node`` looks for it.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog

log = structlog.get_logger(__name__)

Post = Callable[[str, Mapping[str, Any]], Awaitable[object]]

NORMAL = "Normal"
WARNING = "Warning"
NAMESPACE = "default"
TIMEOUT_S = 10.0


class NodeEvents:
    def __init__(self, *, post: Post, component: str = "reloader-node-agent") -> None:
        self._post = post
        self._component = component
        self._instance = socket.gethostname()

    def body(self, *, node: str, uid: str, type_: str, reason: str, message: str) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        involved = {"apiVersion": "v1", "kind": "Node", "name": node}
        if uid:
            involved["uid"] = uid
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{node}.{secrets.token_hex(8)}", "namespace": NAMESPACE},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": self._component, "host": node},
            "reportingComponent": self._component,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }

    async def record(self, *, node: str, uid: str, type_: str, reason: str, message: str) -> None:
        body = self.body(node=node, uid=uid, type_=type_, reason=reason, message=message)
        try:
            with anyio.fail_after(TIMEOUT_S):
                await self._post(NAMESPACE, body)
        except Exception as exc:  # noqa: BLE001 - an Event is never worth failing a reboot step
            log.warning("event.failed", reason=reason, node=node, error=str(exc))
