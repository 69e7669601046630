"""The HTTP/1.1 transport against a scripted server on loopback: framing, keep-alive, a connection
closed while idle, broken answers, cancellation and CONNECT proxies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import pytest

from reloader.kube.transport import Headers, Origin, Pool, Proxy, TransportError

DEADLINE = 10.0

#: the server's handler: the request head it read (and the connection), returns nothing
Handler = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    """Reads request heads (and bodies by Content-Length); ``handler`` writes the answer."""

    handler: Handler
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = Headers(_headers(head)).get("content-length")
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(int(length)) if length else b"")
                await self.handler(head, reader, writer)
                if writer.is_closing():
                    return
        writer.close()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


def url(server: Server, target: str = "/api/v1/namespaces") -> tuple[Origin, str]:
    return Origin.parse(f"http://127.0.0.1:{server.port}"), target


async def get(pool: Pool, server: Server, method: str = "GET", body: bytes | None = None) -> bytes:
    async with pool.stream(method, url(server), headers=[("Accept", "x")], body=body) as response:
        assert response.status == 200
        return await response.read()


def raw(data: bytes, *, close: bool = False) -> Handler:
    """Answer every request with ``data`` as it is; then close the connection if ``close``."""

    async def handler(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if close:
            writer.close()

    return handler


def answer(body: bytes, *extra: str) -> Handler:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return raw(("\r\n".join(head) + "\r\n\r\n").encode() + body)


async def test_a_request_line_host_and_headers_and_a_kept_connection() -> None:
    async with serving(answer(b'{"a":1}')) as server:
        pool = Pool(limit=4)
        assert await get(pool, server) == b'{"a":1}'
        assert await get(pool, server, "PATCH", b"{}") == b'{"a":1}'
        await pool.close()
    first, second = server.heads
    assert first.startswith(b"GET /api/v1/namespaces HTTP/1.1\r\n")
    assert _headers(first)["host"] == f"127.0.0.1:{server.port}"
    assert _headers(first)["accept"] == "x"
    assert "content-length" not in _headers(first)
    assert _headers(second)["content-length"] == "2"
    assert server.bodies == [b"", b"{}"]
    assert server.connections == 1  # the second request reused the first connection


async def test_a_chunked_answer_with_extensions_and_trailers() -> None:
    chunked = raw(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    async with serving(chunked) as server:
        pool = Pool(limit=4)
        async with pool.stream("GET", url(server), headers=[]) as response:
            assert [chunk async for chunk in response.chunks()] == [b"hello", b" ", b"world"]
        assert await get(pool, server) == b"hello world"
        await pool.close()
    assert server.connections == 1


async def test_an_interim_answer_is_skipped_and_headers_are_read_in_any_case() -> None:
    handler = raw(
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 429 Too Many\r\nRetry-After: 2\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n"
    )
    async with serving(handler) as server:
        pool = Pool(limit=4)
        async with pool.stream("GET", url(server), headers=[]) as response:
            assert response.status == 429
            assert response.headers.get("retry-after") == response.headers["Retry-After"] == "2"
            assert response.headers["X-A"] == "1, 2"
            assert await response.read() == b""
        await pool.close()


@pytest.mark.parametrize("value", ["close", "Close"])
async def test_an_answer_with_connection_close_is_not_reused(value: str) -> None:
    async with serving(answer(b"x", f"Connection: {value}")) as server:
        pool = Pool(limit=4)
        assert await get(pool, server) == b"x"
        assert await get(pool, server) == b"x"
        await pool.close()
    assert server.connections == 2


async def test_an_http_1_0_answer_until_the_connection_closes() -> None:
    async with serving(raw(b"HTTP/1.0 200 OK\r\n\r\nall of it", close=True)) as server:
        pool = Pool(limit=4)
        assert await get(pool, server) == b"all of it"
        assert await get(pool, server) == b"all of it"
        await pool.close()
    assert server.connections == 2


async def test_a_connection_closed_while_idle_is_not_reused() -> None:
    """The server closes every connection after its answer (as one closed while idle): the next
    GET goes on a new connection, whether the close was seen before reuse or not."""

    async with serving(
        raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True)
    ) as server:
        pool = Pool(limit=4)
        with anyio.fail_after(DEADLINE):
            for _ in range(3):
                assert await get(pool, server) == b"ok"
        await pool.close()
    assert server.connections == 3


async def test_a_patch_on_a_connection_that_breaks_is_not_sent_twice() -> None:
    calls = 0

    async def handler(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        else:  # the server drops the reused connection without an answer
            writer.transport.abort()

    async with serving(handler) as server:
        pool = Pool(limit=4)
        assert await get(pool, server, "PATCH", b"{}") == b"ok"
        with pytest.raises(TransportError):
            await get(pool, server, "PATCH", b"{}")
        await pool.close()
    assert calls == 2  # the second PATCH reached the server once, and was not sent again


async def test_a_get_on_a_connection_that_breaks_unanswered_is_sent_again() -> None:
    calls = 0

    async def handler(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the reused connection dies without an answer
            writer.transport.abort()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with serving(handler) as server:
        pool = Pool(limit=4)
        assert await get(pool, server) == b"ok"
        assert await get(pool, server) == b"ok"
        await pool.close()
    assert (calls, server.connections) == (3, 2)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"SSH-2.0-OpenSSH\r\n\r\n", id="not-http"),
        pytest.param(b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", id="bad-header"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", id="cut-body"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nbody", id="bad-length"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad-chunk"
        ),
    ],
)
async def test_a_broken_answer_is_a_transport_error(data: bytes) -> None:
    async with serving(raw(data, close=True)) as server:
        pool = Pool(limit=4)
        with anyio.fail_after(DEADLINE), pytest.raises(TransportError):
            await get(pool, server)
        await pool.close()


async def test_a_cancelled_request_closes_its_connection_and_frees_its_slot() -> None:
    stalled = anyio.Event()

    async def handler(_: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(server.heads) == 1:
            stalled.set()
            await reader.read()  # never answers; returns when the client closes
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async with serving(handler) as server:
        pool = Pool(limit=1)
        with anyio.move_on_after(0.5):
            await get(pool, server)
        assert stalled.is_set()
        with anyio.fail_after(DEADLINE):
            assert await get(pool, server) == b"ok"  # the one slot is free again
        await pool.close()
    assert server.connections == 2


async def test_a_closed_pool_refuses_requests() -> None:
    async with serving(answer(b"ok")) as server:
        pool = Pool(limit=1)
        await pool.close()
        with pytest.raises(TransportError, match="closed"):
            await get(pool, server)
    assert server.connections == 0


async def test_a_connect_proxy_tunnels_with_basic_auth() -> None:
    async with serving(answer(b"through")) as upstream:
        tunnels: list[bytes] = []

        async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            tunnels.append(head)
            far_reader, far_writer = await asyncio.open_connection("127.0.0.1", upstream.port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                while data := await src.read(65536):
                    dst.write(data)
                dst.close()

            await asyncio.gather(pipe(reader, far_writer), pipe(far_reader, writer))

        proxy_server = await asyncio.start_server(connect, "127.0.0.1", 0)
        proxy_port = proxy_server.sockets[0].getsockname()[1]
        proxy = Proxy.parse(f"http://user:p%40ss@127.0.0.1:{proxy_port}")
        pool = Pool(limit=2)
        try:
            with anyio.fail_after(DEADLINE):
                async with pool.stream("GET", url(upstream), headers=[], proxy=proxy) as response:
                    assert await response.read() == b"through"
        finally:
            await pool.close()
            proxy_server.close()
    head = tunnels[0].decode()
    assert head.startswith(f"CONNECT 127.0.0.1:{upstream.port} HTTP/1.1\r\n")
    assert "Proxy-Authorization: Basic dXNlcjpwQHNz\r\n" in head  # user:p@ss


async def test_a_proxy_that_refuses_connect() -> None:
    async def refuse(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    proxy_server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    proxy = Proxy.parse(f"http://127.0.0.1:{proxy_server.sockets[0].getsockname()[1]}")
    pool = Pool(limit=1)
    try:
        target = (Origin.parse("https://api.example:6443"), "/")
        with anyio.fail_after(DEADLINE), pytest.raises(TransportError, match="407"):
            async with pool.stream("GET", target, headers=[], proxy=proxy):
                pass
    finally:
        await pool.close()
        proxy_server.close()


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://10.0.0.1:6443", Origin("https", "10.0.0.1", 6443, "10.0.0.1:6443", "")),
        ("https://api.example", Origin("https", "api.example", 443, "api.example", "")),
        ("https://[::1]:6443/prefix", Origin("https", "::1", 6443, "[::1]:6443", "/prefix")),
        ("http://u:p@h:8080", Origin("http", "h", 8080, "h:8080", "")),
    ],
)
def test_an_origin_from_a_server_url(text: str, origin: Origin) -> None:
    assert Origin.parse(text) == origin


@pytest.mark.parametrize("text", ["ftp://h", "https://", "h:443", "socks5://proxy:1080"])
def test_urls_the_transport_cannot_use(text: str) -> None:
    with pytest.raises(ValueError, match="http"):
        Origin.parse(text) if not text.startswith("socks5") else Proxy.parse(text)


async def test_a_header_with_a_line_break_is_refused() -> None:
    async with serving(answer(b"")) as server:
        pool = Pool(limit=1)
        with pytest.raises(ValueError, match="line break"):
            async with pool.stream("GET", url(server), headers=[("X", "a\r\nInjected: 1")]):
                pass
        await pool.close()
    assert server.connections == 0
