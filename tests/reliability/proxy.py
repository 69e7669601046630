"""A TCP proxy between the controller and the API server that can drop every connection.

It forwards bytes both ways without looking at them, so TLS passes through untouched: the
controller still verifies the API server's certificate, which is issued for 127.0.0.1, and the
proxy listens on 127.0.0.1 too, so the host the controller checks stays valid.

- :meth:`TcpProxy.cut` closes every open connection at once (watches and requests in flight);
- :meth:`TcpProxy.refuse` makes new connections close as soon as they are accepted, until
  :meth:`TcpProxy.accept` is called (the API server looks unreachable meanwhile).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

_CHUNK = 65536


@dataclass
class TcpProxy:
    upstream_port: int
    upstream_host: str = "127.0.0.1"
    host: str = "127.0.0.1"
    port: int = 0
    refusing: bool = False
    #: connections accepted, and how many were cut by :meth:`cut`
    accepted: int = 0
    cut_count: int = 0
    _open: dict[int, tuple[anyio.CancelScope, list[anyio.abc.SocketStream]]] = field(
        default_factory=dict
    )
    _ids: int = 0

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen (on a free port unless ``port`` is set) and forward until cancelled."""
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        async with listener:
            self.port = int(listener.extra(SocketAttribute.local_port))  # noqa: S610
            task_status.started(self.port)
            await listener.serve(self._handle)

    def cut(self) -> int:
        """Drop every open connection now (with a TCP reset); return how many."""
        dropped = 0
        for scope, streams in list(self._open.values()):
            for stream in streams:
                _reset_on_close(stream)
            scope.cancel()
            dropped += 1
        self.cut_count += dropped
        return dropped

    def refuse(self) -> None:
        self.refusing = True

    def accept(self) -> None:
        self.refusing = False

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            if self.refusing:
                _reset_on_close(client)
                return
            try:
                upstream = await anyio.connect_tcp(self.upstream_host, self.upstream_port)
            except OSError:
                _reset_on_close(client)
                return
            self.accepted += 1
            self._ids += 1
            ident = self._ids
            async with upstream:
                with anyio.CancelScope() as scope:
                    self._open[ident] = (scope, [client, upstream])
                    try:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(_pump, client, upstream, tg.cancel_scope)
                            tg.start_soon(_pump, upstream, client, tg.cancel_scope)
                    finally:
                        self._open.pop(ident, None)


async def _pump(
    source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream, scope: anyio.CancelScope
) -> None:
    """Copy ``source`` to ``sink`` until either side closes; then end both directions."""
    try:
        while True:
            data = await source.receive(_CHUNK)
            await sink.send(data)
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        scope.cancel()


def _reset_on_close(stream: anyio.abc.SocketStream) -> None:
    """Make closing ``stream`` send a TCP reset instead of a graceful FIN (SO_LINGER 0)."""
    raw: Any = stream.extra(SocketAttribute.raw_socket, None)  # noqa: S610
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
