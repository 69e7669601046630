"""The HTTP endpoints: /metrics (Prometheus text), /live and /ready; the debug endpoints of
``--enable-pprof`` (``observability/debug.py``) are served the same way on their own address.

Served from a small thread (the standard library's threading server) so that a scrape never waits
behind the event loop and the event loop never waits behind a scrape.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, TypeAlias

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: a GET handler: the query string in, (status, body, content type) out
Route: TypeAlias = "Callable[[str], tuple[int, bytes, str]]"
TEXT = "text/plain; charset=utf-8"


class RouteServer:
    """Serve GET ``routes`` (path → handler) from a thread; any other path is a 404."""

    def __init__(self, *, host: str, port: int, routes: Mapping[str, Route]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                route = routes.get(path)
                code, body, ctype = route(query) if route else (404, b"not found", TEXT)
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds are not worth a log line

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class HealthServer(RouteServer):
    """/metrics, /live (200 while ``live()``) and /ready (200 while ``ready()``)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registry: CollectorRegistry,
        live: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        def metrics(_: str) -> tuple[int, bytes, str]:
            return 200, generate_latest(registry), CONTENT_TYPE_LATEST

        def alive(_: str) -> tuple[int, bytes, str]:
            ok = live()
            return (200, b"alive", TEXT) if ok else (500, b"not alive", TEXT)

        def is_ready(_: str) -> tuple[int, bytes, str]:
            ok = ready()
            return (200, b"ready", TEXT) if ok else (503, b"not ready", TEXT)

        routes = {"/metrics": metrics, "/live": alive, "/healthz": alive}
        routes |= {"/ready": is_ready, "/readyz": is_ready}
        super().__init__(host=host, port=port, routes=routes)
