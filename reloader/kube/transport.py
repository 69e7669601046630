"""HTTP/1.1 on asyncio streams: the keep-alive connection pool the API client sends through.

The API server speaks plain HTTP/1.1 to a client that asks for nothing else: a request line,
headers, a body with ``Content-Length``; answers framed by ``Content-Length`` or chunked, watches
chunked for as long as they run. That is all this module does, with TLS (a context per request,
so a rotated client certificate is presented on the next new connection) and ``http://`` proxies
by ``CONNECT``. It replaced aiohttp, whose imports (multidict, yarl, its client, web socket and
multipart modules, and attrs) were 7 MB of an idle controller's RSS (docs/design/client.md,
"Transport"). aiohttp is still used, imported when first needed, for what only it does here:
web sockets (``pods/exec``), registries and the OpenID refresh (``kube/lazy_aiohttp.py``).

Connections are pooled by (scheme, host, port, TLS context, server name, proxy); an idle one is
closed after ``IDLE_SECONDS``. A connection is reused only after its answer was read to the end;
a request cancelled or broken half way closes its connection. A request that fails on a reused
connection before any byte of the answer arrived (the server closed it while idle) is sent once
more on a new connection when its method is idempotent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Sequence

IDLE_SECONDS = 15.0
"""An unused connection is closed after this long (aiohttp's keep-alive default)."""
STREAM_LIMIT = 1 << 20
"""Longest response head, and the stream buffer above which reading from the socket pauses."""
READ_SIZE = 1 << 16
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class TransportError(ConnectionError):
    """No usable answer: the connection failed or broke, or the answer was not HTTP/1.x."""


class Headers(dict[str, str]):
    """Response headers by lower-cased name; ``get`` takes any case. Repeats joined by ", "."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: ``https://host:port/base-path`` of a URL (its path is a prefix)."""

    scheme: str
    host: str
    port: int
    authority: str
    """The Host header: the URL's host and port as written."""
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        """:raises ValueError: not an http(s) URL with a host."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL with a host: {url!r}")
        default = 443 if parts.scheme == "https" else 80
        authority = parts.netloc.rpartition("@")[2]
        return cls(parts.scheme, parts.hostname, parts.port or default, authority, parts.path)


@dataclass(frozen=True, slots=True)
class Proxy:
    """An ``http://`` proxy that tunnels by ``CONNECT`` (the user and password in its URL sent
    as ``Proxy-Authorization: Basic``)."""

    host: str
    port: int
    authorization: str | None = None

    @classmethod
    def parse(cls, url: str) -> Proxy:
        """:raises ValueError: not an ``http://`` URL with a host."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// proxies are supported (CONNECT), not {url!r}")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        return cls(parts.hostname, parts.port or 80, authorization)


_Key = tuple[str, str, int, "ssl.SSLContext | None", "str | None", "Proxy | None"]


class _Connection:
    __slots__ = ("idle_timer", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_timer: asyncio.TimerHandle | None = None

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def abort(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.writer.transport.abort()


class Response:
    """An answer whose head has arrived; its body is read with :meth:`chunks` or :meth:`read`."""

    def __init__(self, status: int, headers: Headers, conn: _Connection, framing: int) -> None:
        self.status = status
        self.headers = headers
        self._conn = conn
        self._framing = framing  # bytes left; CHUNKED; or UNTIL_EOF
        self.complete = framing == 0

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body, piece by piece as it arrives (a chunk of a chunked answer at a time)."""
        reader = self._conn.reader
        try:
            if self._framing == _CHUNKED:
                while size := _chunk_size(await reader.readuntil(b"\r\n")):
                    data = await reader.readexactly(size)
                    await reader.readexactly(2)
                    yield data
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
            elif self._framing == _UNTIL_EOF:
                while data := await reader.read(READ_SIZE):
                    yield data
            else:
                left = self._framing
                while left:
                    data = await reader.read(min(left, READ_SIZE))
                    if not data:
                        raise TransportError("the connection closed before the whole answer")
                    left -= len(data)
                    yield data
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise TransportError(f"a malformed or cut answer: {exc}") from exc
        self.complete = True

    async def read(self) -> bytes:
        """The whole body."""
        if self._framing > 0:  # one read of the known length: no pieces to join
            try:
                data = await self._conn.reader.readexactly(self._framing)
            except asyncio.IncompleteReadError as exc:
                raise TransportError("the connection closed before the whole answer") from exc
            self.complete = True
            return data
        return b"".join([chunk async for chunk in self.chunks()])


_CHUNKED = -1
_UNTIL_EOF = -2


def _chunk_size(line: bytes) -> int:
    return int(line.split(b";", 1)[0].strip(), 16)


def _head(method: str, target: str, authority: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"a line break in the value of the header {name!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, int, Headers]:
    """The version, status and headers of the next answer that is not ``1xx`` informational."""
    while True:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise TransportError(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        status = int(rest[:3])
        if 100 <= status < 200 and status != 101:
            continue
        headers = Headers()
        for line in lines[1:]:
            if line:
                name, colon, value = line.partition(":")
                if not colon:
                    raise TransportError(f"a malformed header line: {line[:80]!r}")
                name, value = name.strip().lower(), value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return version, status, headers


def _framing(method: str, status: int, headers: Headers) -> int:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return 0
    if (headers.get("transfer-encoding") or "").lower().endswith("chunked"):
        return _CHUNKED
    length = headers.get("content-length")
    if length is None:
        return _UNTIL_EOF
    if not length.isdigit():  # int() would take "-1" or " 1_0"
        raise ValueError(f"Content-Length {length[:20]!r}")
    return int(length)


class Pool:
    """Keep-alive HTTP/1.1 connections, at most ``limit`` of them in use at once."""

    def __init__(self, *, limit: int) -> None:
        self._in_use = asyncio.Semaphore(limit)
        self._idle: dict[_Key, deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._closed = False

    async def close(self) -> None:
        """Close every connection, those in use too (their requests fail), and refuse new
        requests."""
        self._closed = True
        for conn in list(self._open):
            conn.abort()
        self._open.clear()
        self._idle.clear()

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: tuple[Origin, str],
        *,
        headers: Sequence[tuple[str, str]],
        body: bytes | None = None,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        proxy: Proxy | None = None,
    ) -> AsyncIterator[Response]:
        """Send a request and yield its answer once its head arrived; the body is read from it.

        :param url: the origin and the request target (path and query, already encoded).
        :raises TransportError: no answer (``OSError`` subclasses when connecting failed).
        """
        if self._closed:
            raise TransportError("the client is closed")
        origin, target = url
        if body is not None or method in ("POST", "PUT", "PATCH"):
            headers = [*headers, ("Content-Length", str(len(body or b"")))]
        request = _head(method, target, origin.authority, headers) + (body or b"")
        key: _Key = (
            origin.scheme,
            origin.host,
            origin.port,
            tls if origin.scheme == "https" else None,
            server_hostname,
            proxy,
        )
        async with self._in_use:
            conn, response = await self._exchange(key, method, request)
            try:
                yield response
            except BaseException:
                self._drop(conn)
                raise
            closes = (response.headers.get("connection") or "").lower() == "close"
            if response.complete and not closes:
                self._release(key, conn)
            else:
                self._drop(conn)

    async def _exchange(
        self, key: _Key, method: str, request: bytes
    ) -> tuple[_Connection, Response]:
        while True:
            conn, reused = await self._acquire(key)
            try:
                conn.writer.write(request)
                await conn.writer.drain()
                version, status, headers = await _read_head(conn.reader)
                framing = _framing(method, status, headers)
                if version == "HTTP/1.0":
                    headers.setdefault("connection", "close")
                return conn, Response(status, headers, conn, framing)
            except (OSError, asyncio.IncompleteReadError) as exc:
                self._drop(conn)
                if reused and method in IDEMPOTENT and not isinstance(exc, TransportError):
                    continue  # closed by the server while idle: once more, on a new connection
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
            except (asyncio.LimitOverrunError, ValueError) as exc:
                self._drop(conn)
                raise TransportError(f"a malformed answer: {exc}") from exc
            except BaseException:
                self._drop(conn)
                raise

    async def _acquire(self, key: _Key) -> tuple[_Connection, bool]:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.idle_timer is not None:
                conn.idle_timer.cancel()
                conn.idle_timer = None
            if conn.usable():
                return conn, True
            self._drop(conn)
        conn = await _connect(key)
        self._open.add(conn)
        return conn, False

    def _release(self, key: _Key, conn: _Connection) -> None:
        if not conn.usable():
            self._drop(conn)
            return
        self._idle.setdefault(key, deque()).append(conn)
        loop = asyncio.get_running_loop()
        conn.idle_timer = loop.call_later(IDLE_SECONDS, self._expire, key, conn)

    def _expire(self, key: _Key, conn: _Connection) -> None:
        idle = self._idle.get(key)
        if idle is not None and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[key]
        conn.idle_timer = None
        self._drop(conn)

    def _drop(self, conn: _Connection) -> None:
        self._open.discard(conn)
        conn.abort()


async def _connect(key: _Key) -> _Connection:
    _, host, port, tls, server_hostname, proxy = key
    sni = (server_hostname or host) if tls is not None else None
    if proxy is None:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=sni, limit=STREAM_LIMIT
        )
        return _Connection(reader, writer)
    reader, writer = await asyncio.open_connection(proxy.host, port=proxy.port, limit=STREAM_LIMIT)
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        headers = [("Proxy-Authorization", proxy.authorization)] if proxy.authorization else []
        writer.write(_head("CONNECT", authority, authority, headers))
        await writer.drain()
        _, status, _ = await _read_head(reader)
        if status != 200:
            raise TransportError(f"the proxy refused CONNECT {authority}: HTTP {status}")  # noqa: TRY301
        if tls is not None:
            await writer.start_tls(tls, server_hostname=sni)
    except BaseException:
        writer.transport.abort()
        raise
    return _Connection(reader, writer)
