"""The HTTP endpoints: health and metrics, and the debug pages of --enable-pprof."""

from __future__ import annotations

import asyncio
import threading
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, Counter

from reloader.observability.debug import DebugServer
from reloader.observability.server import HealthServer


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _fetch(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(_get, port, path)


async def test_health_server_routes() -> None:
    registry = CollectorRegistry()
    Counter("probe_things", "things", registry=registry).inc()
    ready = threading.Event()
    server = HealthServer(
        host="127.0.0.1", port=0, registry=registry, live=lambda: True, ready=ready.is_set
    )
    server.start()
    try:
        status, body = await _fetch(server.port, "/metrics?name[]=probe_things_total")
        assert status == 200
        assert "probe_things_total 1.0" in body
        assert await _fetch(server.port, "/live") == (200, "alive")
        assert await _fetch(server.port, "/ready") == (503, "not ready")
        ready.set()
        assert await _fetch(server.port, "/readyz") == (200, "ready")
        assert (await _fetch(server.port, "/debug/pprof/"))[0] == 404
    finally:
        server.stop()


async def _parked(event: asyncio.Event) -> None:
    await event.wait()


@pytest.fixture
async def debug_server() -> AsyncIterator[DebugServer]:
    server = DebugServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


async def test_tasks_page_lists_every_task_with_its_stack(debug_server: DebugServer) -> None:
    release = asyncio.Event()
    task = asyncio.create_task(_parked(release), name="probe-waiter")
    try:
        status, page = await _fetch(debug_server.port, "/debug/pprof/tasks")
    finally:
        release.set()
        await task
    assert status == 200
    assert "--- probe-waiter (_parked)" in page
    stack = page.split("--- probe-waiter (_parked)\n", 1)[1].split("\n---", 1)[0]
    # the whole chain of awaits, outermost first, down to the future it waits for
    assert "in _parked\n" in stack
    assert stack.index("in _parked") < stack.index("in wait\n") < stack.index("    awaiting ")


async def test_tasks_page_says_when_the_loop_is_blocked(debug_server: DebugServer) -> None:
    # a blocking call on the event loop: the request below is that call
    status, page = _get(debug_server.port, "/debug/pprof/tasks")
    assert status == 200
    assert "the event loop did not answer within 2 s: it is blocked" in page


async def test_threads_page_shows_every_thread(debug_server: DebugServer) -> None:
    status, page = await _fetch(debug_server.port, "/debug/pprof/threads")
    assert status == 200
    assert f"--- thread MainThread ({threading.main_thread().ident})" in page
    assert "in serve_forever" in page  # the debug server's own thread


async def test_heap_page_with_and_without_tracemalloc(debug_server: DebugServer) -> None:
    was_tracing = tracemalloc.is_tracing()
    status, page = await _fetch(debug_server.port, "/debug/pprof/heap")
    assert status == 200
    assert "resident set size: " in page
    assert "top types by count:" in page
    assert " dict\n" in page or " function\n" in page
    if not was_tracing:
        assert "tracemalloc is off" in page
    try:
        _, traced = await _fetch(debug_server.port, "/debug/pprof/heap?tracemalloc=start")
        assert "tracemalloc: live memory by allocating line" in traced
        assert tracemalloc.is_tracing()
    finally:
        _, stopped = await _fetch(debug_server.port, "/debug/pprof/heap?tracemalloc=stop")
    assert "tracemalloc is off" in stopped
    assert not tracemalloc.is_tracing()


async def test_index_and_unknown_paths(debug_server: DebugServer) -> None:
    status, index = await _fetch(debug_server.port, "/debug/pprof/")
    assert status == 200
    assert "/debug/pprof/tasks" in index
    assert (await _fetch(debug_server.port, "/metrics"))[0] == 404
