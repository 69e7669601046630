"""A small real HTTP server that speaks enough of the Kubernetes API to script watch scenarios.

It serves one collection (``/api/v1/namespaces/{ns}/configmaps`` and ``/api/v1/configmaps``):
paginated LISTs of ``objects`` (with scripted failures), and WATCH streams played from
``watches``, one script per WATCH request. Any other request is answered from ``answers``
(404 Status otherwise). Every request is recorded in ``requests``; ``wait_for`` awaits a
condition on them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import orjson
from aiohttp import web

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping
    from pathlib import Path


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    header_items: tuple[tuple[str, str], ...] = ()  # every header, repeated ones too
    client_cn: str | None = None  # the common name of the client certificate, over TLS

    @property
    def is_watch(self) -> bool:
        return self.query.get("watch") == "true"


@dataclass(frozen=True)
class Send:
    """Send one watch line: ``{"type": ..., "object": ...}``."""

    type: str
    object: Mapping[str, Any]


@dataclass(frozen=True)
class SendRaw:
    """Send these bytes as they are (a malformed line)."""

    data: bytes


@dataclass(frozen=True)
class Answer:
    """Answer the request with this status and body instead of a stream."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


TOKEN = "test-token"
DROP = "drop"  # abort the connection mid-stream
HANG = "hang"  # send nothing more, keep the connection open
Step = Send | SendRaw | str
WatchScript = Answer | list[Step]


def obj(name: str, rv: str, *, namespace: str = "ns", **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "resourceVersion": rv, "uid": f"uid-{name}"}
    return {"metadata": meta, **extra}


def status(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message or reason,
    }


def bookmark(rv: str) -> Send:
    return Send("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": rv}})


class FakeApiServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.objects: list[dict[str, Any]] = []
        self.list_resource_version = "100"
        self.list_failures: deque[Answer] = deque()
        self.expire_continue = 0  # how many `continue` requests answer 410
        self.watches: deque[WatchScript] = deque()
        self.answers: dict[tuple[str, str], Answer] = {}
        self.port = 0
        self.scheme = "http"
        self._changed = anyio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def lists(self) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == "GET" and r.path.endswith("configmaps") and not r.is_watch
        ]

    def watch_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_watch]

    async def wait_for(self, condition: Callable[[FakeApiServer], bool]) -> None:
        """Return once ``condition(self)`` holds; checked again after every request."""
        while not condition(self):
            await self._changed.wait()

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        self.scheme = "https" if ssl_context is not None else "http"
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
                header_items=tuple(request.headers.items()),
                client_cn=_client_cn(request),
            )
        )
        self._changed.set()
        self._changed = anyio.Event()
        if request.method == "GET" and request.path.endswith("/configmaps"):
            if request.query.get("watch") == "true":
                return await self._watch(request)
            return self._list(request)
        answer = self.answers.get((request.method, request.path))
        if answer is None:
            answer = Answer(404, status(404, "NotFound", f"{request.path} not found"))
        return _respond(answer)

    def _list(self, request: web.Request) -> web.Response:
        if self.list_failures:
            return _respond(self.list_failures.popleft())
        token = request.query.get("continue")
        if token and self.expire_continue > 0:
            self.expire_continue -= 1
            return _respond(Answer(410, status(410, "Expired", "continue token expired")))
        limit = int(request.query.get("limit", "500"))
        start = int(token[1:]) if token else 0
        items = self.objects[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": self.list_resource_version}
        if start + limit < len(self.objects):
            meta["continue"] = f"c{start + limit}"
        return _respond(Answer(200, {"kind": "ConfigMapList", "metadata": meta, "items": items}))

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        script: WatchScript = self.watches.popleft() if self.watches else [HANG]
        if isinstance(script, Answer):
            return _respond(script)
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        for step in script:
            if isinstance(step, Send):
                await response.write(
                    orjson.dumps({"type": step.type, "object": step.object}) + b"\n"
                )
            elif isinstance(step, SendRaw):
                await response.write(step.data)
            elif step == DROP:
                assert request.transport is not None
                request.transport.abort()
                return response
            elif step == HANG:
                await self._closing.wait()
        await response.write_eof()
        return response


def _client_cn(request: web.Request) -> str | None:
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _respond(answer: Answer) -> web.Response:
    body = answer.body
    data = orjson.dumps(body) if not isinstance(body, bytes | str) else body
    return web.Response(
        status=answer.status,
        body=data.encode() if isinstance(data, str) else data,
        headers={"Content-Type": "application/json", **answer.headers},
    )


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    user: Mapping[str, Any] | None = None,
    cluster: Mapping[str, Any] | None = None,
) -> str:
    """A kubeconfig (JSON is YAML) with one context; the user has a token unless given."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "admin", "user": user if user is not None else {"token": TOKEN}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "admin"}}],
        "current-context": "fake",
    }
    path.write_bytes(orjson.dumps(config))
    return str(path)
