"""The HTTP endpoints: /metrics (Prometheus text), /live and /ready.

Served from a small thread (the standard library's threading server) so that a scrape never waits
behind the event loop and the event loop never waits behind a scrape. No debug endpoints.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

if TYPE_CHECKING:
    from collections.abc import Callable


class HealthServer:
    """Serve /metrics, /live (200 while ``live()``) and /ready (200 while ``ready()``)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registry: CollectorRegistry,
        live: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    outer._send(self, 200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path in ("/live", "/healthz"):
                    ok = live()
                    outer._send(self, 200 if ok else 500, b"alive" if ok else b"not alive")
                elif path in ("/ready", "/readyz"):
                    ok = ready()
                    outer._send(self, 200 if ok else 503, b"ready" if ok else b"not ready")
                else:
                    outer._send(self, 404, b"not found")

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes every few seconds are not worth a log line

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str = "text/plain"
    ) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
