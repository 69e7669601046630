"""A thin async HTTP client for the Kubernetes API: raw JSON dicts in and out.

Why not a generated client library (kubernetes_asyncio): it deserializes every object into model
instances, which costs CPU and several times the memory of the JSON, the informers only need a
few fields of each object, and importing its models alone costs tens of MB of RSS
(docs/design/client.md). The kubeconfig is read by ``reloader.kube.config``; the requests go
through one pool of HTTP/1.1 connections (``reloader.kube.transport``), each with the current TLS
context (``reloader.kube.tls``: a rotated client certificate is presented on the next new
connection), the Authorization header of the credentials and the kubeconfig user's
``Impersonate-*`` headers. Web sockets (``pods/exec``) go through aiohttp, imported on first use.

``request_raw`` returns an answer undecoded with its ``Content-Type``: the source informers'
LISTs ask for protobuf (``reloader.kube.proto``, docs/design/client.md, "Content types").

Every request reports ``on_request(verb, status, seconds)`` (status 0 when there was no answer),
so that the application can export client metrics without this package importing them.
"""

from __future__ import annotations

import asyncio.sslproto
import contextlib
import os
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import anyio
import msgspec
import structlog

from reloader import __version__
from reloader.errors import ConfigError, KubeConnectionError, KubeError
from reloader.kube import config as kubeconfig_loader
from reloader.kube import lazy_aiohttp
from reloader.kube.config import Connection
from reloader.kube.errors import connection_error, from_response, map_error
from reloader.kube.tls import TlsContexts
from reloader.kube.transport import Origin, Pool, Proxy, Response
from reloader.kube.wire import QueryValue, decode_object, kubernetes_verb, request_target

if TYPE_CHECKING:
    from types import TracebackType

    import aiohttp

log = structlog.get_logger(__name__)

OnRequest = Callable[[str, int, float], None]
"""``(verb, status_code, seconds)``; status 0 when there was no answer. Must not raise."""
OnFallback = Callable[[str], None]
"""``(resource)``: its LISTs went from protobuf to JSON for good (``kube/watch.py``)."""


#: the package's own version string, not ``importlib.metadata``'s: that module (with zipfile and
#: importlib.resources) costs about 0.7 MB of idle RSS, for a string the package holds already
DEFAULT_USER_AGENT = f"reloader/{__version__}"
DEFAULT_TIMEOUT = 30.0
"""Seconds for a whole request (or, for a stream, until its response headers arrive)."""

_HTTP_ERRORS = (OSError, TimeoutError)  # TransportError is a ConnectionError

#: asyncio gives every TLS connection a read buffer of this size, zero-filled at once (256 KiB by
#: default). 64 KiB is still four TLS records per read. A burst of requests at start (adopting
#: every workload) opens a few dozen connections, each of which touched 256 KiB, and the heap
#: does not shrink when they close: 4.5 MB more RSS at idle with 33 workloads to adopt.
SSL_READ_BUFFER = 64 * 1024
asyncio.sslproto.SSLProtocol.max_size = SSL_READ_BUFFER


def _proxy_url_for(connection: Connection) -> str | None:
    """The proxy of every request: the kubeconfig's ``proxy-url``, else ``$HTTPS_PROXY`` etc.

    The environment is read once, as client-go does (``http.ProxyFromEnvironment``), for the
    server's URL (``$NO_PROXY`` applies to it); the standard library's proxy rules are imported
    only when the environment names a proxy.
    """
    if connection.proxy_url is not None:
        return connection.proxy_url
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    import urllib.request  # only when the environment names a proxy

    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(connection.server)
    proxy = proxies.get(parts.scheme)
    if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class KubeClient:
    """One connection pool to one API server; use ``async with await KubeClient.connect(...)``."""

    def __init__(
        self,
        *,
        connection: Connection,
        tls: TlsContexts,
        field_manager: str,
        on_request: OnRequest | None,
        timeout: float,
        user_agent: str = DEFAULT_USER_AGENT,
        max_connections: int = 100,
        on_protobuf_fallback: OnFallback | None = None,
    ) -> None:
        """:raises ConfigError: the server or proxy URL is not one the client can use."""
        try:
            self._origin = Origin.parse(connection.server)
        except ValueError as exc:
            raise ConfigError(f"server: {exc}") from exc
        self._proxy_url = _proxy_url_for(connection)
        try:
            self._proxy = Proxy.parse(self._proxy_url) if self._proxy_url else None
        except ValueError as exc:
            where = "proxy-url" if connection.proxy_url else "the environment's proxy"
            raise ConfigError(f"{where}: {exc}") from exc
        self._pool = Pool(limit=max_connections)
        self._ws_session: aiohttp.ClientSession | None = None
        self._credentials = connection.credentials
        self._base = connection.server
        self._server_hostname = connection.tls.server_name
        self._tls = tls
        # identity: on a cluster network gzip costs more CPU (both ends) than it saves
        self._fixed_headers = [("User-Agent", user_agent), ("Accept-Encoding", "identity")]
        self._fixed_headers += connection.impersonation.headers()  # a header per group: a list
        self.namespace = connection.namespace
        """The namespace a command defaults to (the context's, see ``kube/config.py``)."""
        self._on_request = on_request
        self._on_protobuf_fallback = on_protobuf_fallback
        self._timeout = timeout
        self.field_manager = field_manager

    @classmethod
    async def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        field_manager: str = "reloader",
        on_request: OnRequest | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        request_timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 100,
        on_protobuf_fallback: OnFallback | None = None,
    ) -> KubeClient:
        """Load the configuration and open the connection pool (no request is made yet).

        :param kubeconfig: a kubeconfig path; None means $KUBECONFIG, else the in-cluster
            service account, else ~/.kube/config.
        :param context: the kubeconfig context; None means its current-context.
        :param field_manager: sent as ``fieldManager`` on every write.
        :param request_timeout: default seconds per request.
        :param max_connections: pool size; each watch holds one connection while it runs.
        :param on_protobuf_fallback: told when a resource's LISTs fall back to JSON.
        :raises ConfigError: no usable configuration.
        """
        connection = kubeconfig_loader.load(kubeconfig, context)
        tls = TlsContexts(connection.tls)
        # a bad exec plugin or token file fails here, at start-up, not at the first request
        try:
            await connection.credentials.authorization()
        except KubeError as exc:
            raise ConfigError(str(exc)) from exc
        try:
            tls.context(connection.credentials.certificate())
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(f"TLS settings of the kubeconfig: {exc}") from exc
        return cls(
            connection=connection,
            tls=tls,
            field_manager=field_manager,
            on_request=on_request,
            timeout=request_timeout,
            user_agent=user_agent,
            max_connections=max_connections,
            on_protobuf_fallback=on_protobuf_fallback,
        )

    @property
    def host(self) -> str:
        return self._base

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool; open streams are broken. Safe to call twice."""
        await self._pool.close()
        if self._ws_session is not None:
            await self._ws_session.close()

    async def _headers(
        self, *, accept: str = "application/json", content_type: str | None = None
    ) -> list[tuple[str, str]]:
        headers = [*self._fixed_headers, ("Accept", accept)]
        auth = await self._credentials.authorization()
        if auth:
            headers.append(("Authorization", auth))
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        return headers

    def _ssl(self) -> ssl.SSLContext | None:
        """The TLS context of the next request: a new one once the client certificate rotated."""
        if self._origin.scheme != "https":
            return None
        try:
            return self._tls.context(self._credentials.certificate())
        except (OSError, ValueError) as exc:
            raise KubeConnectionError(f"client certificate: {exc}", status=0) from exc

    def protobuf_fallback(self, resource: str) -> None:
        """A watch's LISTs of ``resource`` fall back to JSON for good (for the metrics)."""
        if self._on_protobuf_fallback is not None:
            self._on_protobuf_fallback(resource)

    def _report(self, verb: str, status: int, started: float) -> None:
        if self._on_request is not None:
            self._on_request(verb, status, time.monotonic() - started)

    def _failed(self, status: int, payload: bytes, headers: Mapping[str, str]) -> KubeError:
        if status == 401:
            self._credentials.invalidate()
        return from_response(status, payload, headers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, QueryValue] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request default, as in aiohttp
    ) -> dict[str, Any]:
        """Send one request and return the JSON answer as a dict ({} when the body is empty).

        :param path: the API path, e.g. ``/api/v1/namespaces/ns/configmaps``.
        :param body: JSON-serializable; sent as ``content_type`` (default application/json).
        :param timeout: seconds for the whole request; None means the client's default.
        :raises KubeError: a subclass for the HTTP status, or KubeConnectionError.
        """
        data: bytes | None = None
        if body is not None:
            data = msgspec.json.encode(body)
            content_type = content_type or "application/json"
        headers = await self._headers(content_type=content_type)
        payload, _ = await self._send(method, path, query, headers, data, timeout)
        return decode_object(payload)

    async def request_raw(
        self,
        path: str,
        *,
        accept: str,
        query: Mapping[str, QueryValue] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request default, as in aiohttp
    ) -> tuple[bytes, str]:
        """A GET answered in the first content type of ``accept`` the server offers: the body
        (not decoded) and its ``Content-Type`` (``docs/design/client.md``, "Content types").

        :raises KubeError: as :meth:`request`; a Status body in protobuf is read too.
        """
        headers = await self._headers(accept=accept)
        return await self._send("GET", path, query, headers, None, timeout)

    def _stream(
        self,
        method: str,
        path: str,
        query: Mapping[str, QueryValue] | None,
        headers: list[tuple[str, str]],
        data: bytes | None = None,
    ) -> contextlib.AbstractAsyncContextManager[Response]:
        return self._pool.stream(
            method,
            (self._origin, request_target(self._origin.base_path, path, query)),
            headers=headers,
            body=data,
            tls=self._ssl(),
            server_hostname=self._server_hostname,
            proxy=self._proxy,
        )

    async def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, QueryValue] | None,
        headers: list[tuple[str, str]],
        data: bytes | None,
        timeout: float | None,  # noqa: ASYNC109 - a per-request default, as in aiohttp
    ) -> tuple[bytes, str]:
        """One request: the body of a 2xx answer and its ``Content-Type``; else the error."""
        verb = kubernetes_verb(method, path, query)
        started = time.monotonic()
        status = 0
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                async with self._stream(method, path, query, headers, data) as response:
                    status = response.status
                    payload = await response.read()
        except _HTTP_ERRORS as exc:
            self._report(verb, status, started)
            raise map_error(exc) from exc
        self._report(verb, status, started)
        if not 200 <= status < 300:
            raise self._failed(status, payload, response.headers)
        return payload, response.headers.get("Content-Type", "") or ""

    async def stream_lines(
        self,
        path: str,
        *,
        query: Mapping[str, QueryValue] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - only until the headers arrive
    ) -> AsyncGenerator[bytes, None]:
        """Yield the lines of a streaming GET (a watch), without their line endings.

        Close it with ``contextlib.aclosing``. Lines may be of any length (no buffer limit).

        :param timeout: seconds until the response headers arrive; None means the default.
            Reads after that have no timeout: the caller applies its own inactivity timeout.
        :raises KubeError: an error answer, or KubeConnectionError if the stream broke.
        """
        verb = kubernetes_verb("GET", path, query)
        headers = await self._headers()
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            try:
                with anyio.fail_after(self._timeout if timeout is None else timeout):
                    response = await stack.enter_async_context(
                        self._stream("GET", path, query, headers)
                    )
            except _HTTP_ERRORS as exc:
                self._report(verb, 0, started)
                raise map_error(exc) from exc
            self._report(verb, response.status, started)
            try:
                if not 200 <= response.status < 300:
                    payload = await response.read()
                    raise self._failed(response.status, payload, response.headers)
                pending = bytearray()
                async for chunk in response.chunks():
                    pending += chunk
                    if b"\n" not in chunk:
                        continue
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield bytes(line)
                if pending:
                    yield bytes(pending)
            except _HTTP_ERRORS as exc:
                raise map_error(exc) from exc

    @contextlib.asynccontextmanager
    async def websocket(
        self,
        path: str,
        *,
        query: Sequence[tuple[str, str]],
        protocols: Sequence[str],
        timeout: float | None = None,  # noqa: ASYNC109 - only until the upgrade completes
    ) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """A WebSocket to the API server (``pods/exec``, ``pods/attach``), through aiohttp
        (imported on the first call); ``query`` may repeat keys (``command`` does). The caller
        bounds how long it reads.

        :raises KubeError: the upgrade was refused (a subclass for the HTTP status), or
            KubeConnectionError.
        """
        aio = lazy_aiohttp.load()
        if self._ws_session is None:
            self._ws_session = aio.ClientSession(trust_env=False, raise_for_status=False)
        verb = kubernetes_verb("GET", path, None)
        headers = await self._headers()
        started = time.monotonic()
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                ws = await self._ws_session.ws_connect(
                    self._base + path,
                    params=list(query),
                    protocols=tuple(protocols),
                    headers=headers,
                    server_hostname=self._server_hostname,
                    proxy=self._proxy_url,
                    ssl=self._ssl() or False,
                    autoping=True,
                )
        except aio.WSServerHandshakeError as exc:
            self._report(verb, exc.status, started)
            raise self._failed(exc.status, exc.message.encode(), exc.headers or {}) from exc
        except (aio.ClientError, *_HTTP_ERRORS) as exc:
            self._report(verb, 0, started)
            raise connection_error(exc) from exc
        self._report(verb, 101, started)
        try:
            yield ws
        finally:
            await ws.close()
