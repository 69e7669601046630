"""Kubernetes Events on workloads: best effort, never fails a reconcile.

The recorder builds a core/v1 Event and hands it to an injected ``post`` coroutine (the app wires
it to the API client), so this module needs no Kubernetes client of its own.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Post = Callable[[str, Mapping[str, Any]], Awaitable[object]]

NORMAL = "Normal"
WARNING = "Warning"


class EventRecorder:
    def __init__(self, *, post: Post, component: str = "reloader") -> None:
        self._post = post
        self._component = component
        self._instance = socket.gethostname()

    async def record(
        self,
        *,
        involved: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
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
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self._post(namespace, body)
        except Exception as exc:  # noqa: BLE001 - an Event is never worth failing a reload
            log.warning(
                "event.failed",
                reason=reason,
                namespace=namespace,
                name=involved.get("name"),
                error=str(exc),
            )
