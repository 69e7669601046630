"""A thin async HTTP client for the Kubernetes API: raw JSON dicts in and out.

Why not a generated client library (kubernetes_asyncio): it deserializes every object into model
instances, which costs CPU and several times the memory of the JSON, the informers only need a
few fields of each object, and importing its models alone costs tens of MB of RSS
(docs/design/client.md). The kubeconfig is read by ``reloader.kube.config``; the requests go
through one shared aiohttp session, each with the current TLS context (``reloader.kube.tls``:
a rotated client certificate is presented on the next new connection), the Authorization header
of the credentials and the kubeconfig user's ``Impersonate-*`` headers.

``request_raw`` returns an answer undecoded with its ``Content-Type``: the source informers'
LISTs ask for protobuf (``reloader.kube.proto``, docs/design/client.md, "Content types").

Every request reports ``on_request(verb, status, seconds)`` (status 0 when there was no answer),
so that the application can export client metrics without this package importing them.
"""

from __future__ import annotations

import asyncio.sslproto
import contextlib
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import aiohttp
import anyio
import msgspec
import structlog
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from reloader import __version__
from reloader.errors import ConfigError, KubeConnectionError, KubeError
from reloader.kube import config as kubeconfig_loader
from reloader.kube.config import Connection
from reloader.kube.errors import from_response, map_error
from reloader.kube.tls import TlsContexts

if TYPE_CHECKING:
    from types import TracebackType

log = structlog.get_logger(__name__)

OnRequest = Callable[[str, int, float], None]
"""``(verb, status_code, seconds)``; status 0 when there was no answer. Must not raise."""

QueryValue = str | int | bool


#: the package's own version string, not ``importlib.metadata``'s: that module (with zipfile and
#: importlib.resources) costs about 0.7 MB of idle RSS, for a string the package holds already
DEFAULT_USER_AGENT = f"reloader/{__version__}"
DEFAULT_TIMEOUT = 30.0
"""Seconds for a whole request (or, for a stream, until its response headers arrive)."""

_HTTP_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)

decode_json: Callable[[bytes], Any] = msgspec.json.Decoder().decode
"""JSON → plain dicts, lists, str...; raises ``msgspec.DecodeError``. msgspec rather than orjson:
it decodes a LIST page of 40 KiB ConfigMaps or Secrets about twice as fast (long strings), and
the pages of the initial sync are most of the controller's CPU at start (docs/benchmarks.md)."""
_CHUNK = 1 << 16


def decode_object(payload: bytes, status: int = 200) -> dict[str, Any]:
    """A 2xx JSON answer as a dict ({} when empty). :raises KubeError: not a JSON object."""
    if not payload:
        return {}
    try:
        parsed = decode_json(payload)
    except msgspec.DecodeError as exc:
        raise KubeError("the API server answered with invalid JSON", status=status) from exc
    if not isinstance(parsed, dict):
        raise KubeError("the API server answered with JSON that is not an object", status=status)
    return parsed


def kubernetes_verb(method: str, path: str, query: Mapping[str, QueryValue] | None) -> str:
    """The Kubernetes verb of a request: LIST, GET, WATCH, CREATE, UPDATE, PATCH, DELETE...

    A path names an object when, after the group/version prefix (and ``namespaces/NAME`` when
    more follows), at least two segments remain: ``PLURAL/NAME[/SUBRESOURCE]``.
    """
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        rest = []
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    named = len(rest) >= 2
    method = method.upper()
    if method == "GET":
        if query is not None and str(query.get("watch", "")).lower() in ("true", "1"):
            return "WATCH"
        return "GET" if named or not rest else "LIST"
    if method == "DELETE":
        return "DELETE" if named else "DELETECOLLECTION"
    return {"POST": "CREATE", "PUT": "UPDATE", "PATCH": "PATCH"}.get(method, method)


def _encode_query(query: Mapping[str, QueryValue] | None) -> list[tuple[str, str]]:
    if not query:
        return []
    return [
        (key, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for key, value in query.items()
    ]


#: asyncio gives every TLS connection a read buffer of this size, zero-filled at once (256 KiB by
#: default). 64 KiB is still four TLS records per read. A burst of requests at start (adopting
#: every workload) opens a few dozen connections, each of which touched 256 KiB, and the heap
#: does not shrink when they close: 4.5 MB more RSS at idle with 33 workloads to adopt.
SSL_READ_BUFFER = 64 * 1024
asyncio.sslproto.SSLProtocol.max_size = SSL_READ_BUFFER


def _proxy_for(connection: Connection) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The proxy of every request: the kubeconfig's ``proxy-url``, else ``$HTTPS_PROXY`` etc.

    The environment is read once, as client-go does (``http.ProxyFromEnvironment``), for the
    server's URL (``$NO_PROXY`` applies to it). Read per request, as aiohttp's ``trust_env``
    does, it costs a thread hop each time, and the threads (six, on two cores) stay.
    """
    if connection.proxy_url is not None:
        return connection.proxy_url, None
    try:
        proxy, auth = get_env_proxy_for_url(URL(connection.server))
    except LookupError:
        return None, None
    return str(proxy), auth


class KubeClient:
    """One connection pool to one API server; use ``async with await KubeClient.connect(...)``."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        connection: Connection,
        tls: TlsContexts,
        field_manager: str,
        on_request: OnRequest | None,
        timeout: float,
    ) -> None:
        self._session = session
        self._credentials = connection.credentials
        self._base = connection.server
        self._server_hostname = connection.tls.server_name
        self._tls = tls
        self._impersonation = connection.impersonation.headers()
        self.namespace = connection.namespace
        """The namespace a command defaults to (the context's, see ``kube/config.py``)."""
        self._proxy, self._proxy_auth = _proxy_for(connection)
        self._on_request = on_request
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
    ) -> KubeClient:
        """Load the configuration and open the connection pool (no request is made yet).

        :param kubeconfig: a kubeconfig path; None means $KUBECONFIG, else the in-cluster
            service account, else ~/.kube/config.
        :param context: the kubeconfig context; None means its current-context.
        :param field_manager: sent as ``fieldManager`` on every write.
        :param request_timeout: default seconds per request.
        :param max_connections: pool size; each watch holds one connection while it runs.
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
            ssl_context = tls.context(connection.credentials.certificate())
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(f"TLS settings of the kubeconfig: {exc}") from exc
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ssl=ssl_context),
            # identity: on a cluster network gzip costs more CPU (both ends) than it saves
            headers={
                "User-Agent": user_agent,
                "Accept": "application/json",
                "Accept-Encoding": "identity",
            },
            timeout=aiohttp.ClientTimeout(total=None),  # timeouts are anyio cancel scopes
            # the environment's proxy is read once, in _proxy_for; trust_env would read it again
            # (and look for a ~/.netrc) in a worker thread before every request
            trust_env=False,
            raise_for_status=False,
        )
        return cls(
            session=session,
            connection=connection,
            tls=tls,
            field_manager=field_manager,
            on_request=on_request,
            timeout=request_timeout,
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
        await self._session.close()

    async def _headers(self, content_type: str | None) -> list[tuple[str, str]]:
        headers = list(self._impersonation)  # a header per group: a list, not a dict
        auth = await self._credentials.authorization()
        if auth:
            headers.append(("Authorization", auth))
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        return headers

    def _ssl(self) -> ssl.SSLContext:
        """The TLS context of the next request: a new one once the client certificate rotated."""
        try:
            return self._tls.context(self._credentials.certificate())
        except (OSError, ValueError) as exc:
            raise KubeConnectionError(f"client certificate: {exc}", status=0) from exc

    def _report(self, verb: str, status: int, started: float) -> None:
        if self._on_request is not None:
            self._on_request(verb, status, time.monotonic() - started)

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
        payload, _ = await self._send(
            method, path, query=query, data=data, content_type=content_type, timeout=timeout
        )
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
        return await self._send("GET", path, query=query, accept=accept, timeout=timeout)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, QueryValue] | None,
        data: bytes | None = None,
        content_type: str | None = None,
        accept: str | None = None,
        timeout: float | None,  # noqa: ASYNC109 - a per-request default, as in aiohttp
    ) -> tuple[bytes, str]:
        """One request: the body of a 2xx answer and its ``Content-Type``; else the error."""
        verb = kubernetes_verb(method, path, query)
        headers = await self._headers(content_type)
        if accept is not None:
            headers.append(("Accept", accept))
        started = time.monotonic()
        status = 0
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                async with self._session.request(
                    method,
                    self._base + path,
                    params=_encode_query(query),
                    data=data,
                    headers=headers,
                    server_hostname=self._server_hostname,
                    proxy=self._proxy,
                    proxy_auth=self._proxy_auth,
                    ssl=self._ssl(),
                ) as response:
                    status = response.status
                    payload = await response.read()
                    response_headers = response.headers
        except _HTTP_ERRORS as exc:
            self._report(verb, status, started)
            raise map_error(exc) from exc
        self._report(verb, status, started)
        if not 200 <= status < 300:
            if status == 401:
                self._credentials.invalidate()
            raise from_response(status, payload, response_headers)
        return payload, response_headers.get("Content-Type", "")

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
        headers = await self._headers(None)
        started = time.monotonic()
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                response = await self._session.request(
                    "GET",
                    self._base + path,
                    params=_encode_query(query),
                    headers=headers,
                    server_hostname=self._server_hostname,
                    proxy=self._proxy,
                    proxy_auth=self._proxy_auth,
                    ssl=self._ssl(),
                )
        except _HTTP_ERRORS as exc:
            self._report(verb, 0, started)
            raise map_error(exc) from exc
        self._report(verb, response.status, started)
        async with response:
            try:
                if not 200 <= response.status < 300:
                    if response.status == 401:
                        self._credentials.invalidate()
                    payload = await response.read()
                    raise from_response(response.status, payload, response.headers)
                pending = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
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
        """A WebSocket to the API server (``pods/exec``, ``pods/attach``); ``query`` may repeat
        keys (``command`` does). The caller bounds how long it reads.

        :raises KubeError: the upgrade was refused (a subclass for the HTTP status), or
            KubeConnectionError.
        """
        verb = kubernetes_verb("GET", path, None)
        headers = await self._headers(None)
        started = time.monotonic()
        try:
            with anyio.fail_after(self._timeout if timeout is None else timeout):
                ws = await self._session.ws_connect(
                    self._base + path,
                    params=list(query),
                    protocols=tuple(protocols),
                    headers=headers,
                    server_hostname=self._server_hostname,
                    proxy=self._proxy,
                    proxy_auth=self._proxy_auth,
                    ssl=self._ssl(),
                    autoping=True,
                )
        except aiohttp.WSServerHandshakeError as exc:
            self._report(verb, exc.status, started)
            if exc.status == 401:
                self._credentials.invalidate()
            raise from_response(exc.status, exc.message.encode(), exc.headers or {}) from exc
        except _HTTP_ERRORS as exc:
            self._report(verb, 0, started)
            raise map_error(exc) from exc
        self._report(verb, 101, started)
        try:
            yield ws
        finally:
            await ws.close()
