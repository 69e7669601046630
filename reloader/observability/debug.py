"""``--enable-pprof``: what a live Python controller needs for debugging, on its own address.

Go's pprof has no meaning in a Python process; these pages answer the same questions:

- ``/debug/pprof/tasks``: every asyncio task of the event loop with its stack (what is each
  informer, worker and timer waiting on?). Asked of the loop itself; when it does not answer within
  two seconds the loop is blocked, which the page says, and ``threads`` shows where.
- ``/debug/pprof/threads``: the Python stack of every thread, the event loop's included.
- ``/debug/pprof/heap``: live objects by type (the garbage collector's view), the resident set
  size, and, while tracemalloc runs, the lines that allocated the most live memory;
  ``?tracemalloc=start`` starts it (it slows allocation down) and ``?tracemalloc=stop`` stops it.

Nothing here is safe to expose: a stack shows values of local variables' types and names, a heap
page shows what the process holds. Off by default; bind it to localhost and port-forward.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import io
import sys
import threading
import traceback
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs

from reloader.observability.server import TEXT, Route, RouteServer

INDEX = b"""debug endpoints of reloader (--enable-pprof):
/debug/pprof/tasks    every asyncio task with its stack
/debug/pprof/threads  every thread's Python stack
/debug/pprof/heap     live objects by type, RSS; ?tracemalloc=start|stop for allocation sites
"""
LOOP_TIMEOUT = 2.0
TOP = 40


class DebugServer(RouteServer):
    """The debug pages for the event loop running where this is constructed."""

    def __init__(self, *, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        routes: dict[str, Route] = {
            "/debug/pprof/": lambda _: (200, INDEX, TEXT),
            "/debug/pprof/tasks": lambda _: _text(tasks_page(loop)),
            "/debug/pprof/threads": lambda _: _text(threads_page()),
            "/debug/pprof/heap": lambda query: _text(heap_page(query)),
        }
        super().__init__(host=host, port=port, routes=routes)


def _text(page: str) -> tuple[int, bytes, str]:
    return 200, page.encode(), TEXT


def tasks_page(loop: asyncio.AbstractEventLoop) -> str:
    """Every task of ``loop`` with its stack, collected on the loop (called from another thread)."""
    future = asyncio.run_coroutine_threadsafe(_dump_tasks(), loop)
    try:
        return future.result(timeout=LOOP_TIMEOUT)
    except TimeoutError:
        future.cancel()
        return (
            f"the event loop did not answer within {LOOP_TIMEOUT:g} s: it is blocked "
            "(see /debug/pprof/threads for where)\n"
        )


async def _dump_tasks() -> str:
    me = asyncio.current_task()
    tasks = sorted((t for t in asyncio.all_tasks() if t is not me), key=lambda t: t.get_name())
    out = io.StringIO()
    out.write(f"{len(tasks)} tasks\n")
    for task in tasks:
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        out.write(f"\n--- {task.get_name()} ({name})\n")
        out.writelines(_await_chain(coro))
    return out.getvalue()


def _await_chain(coro: object) -> list[str]:
    """The stack of a suspended task, outermost first: each coroutine's frame down the chain of
    what it awaits (asyncio's own ``Task.get_stack`` shows only the outermost frame)."""
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:  # a future (or its iterator), a finished coroutine
            lines.append(f"    awaiting {type(coro).__name__}\n")
            break
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n')
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines


def threads_page() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = io.StringIO()
    for ident, frame in sys._current_frames().items():
        out.write(f"--- thread {names.get(ident, '?')} ({ident})\n")
        out.writelines(traceback.format_stack(frame))
        out.write("\n")
    return out.getvalue()


def heap_page(query: str) -> str:
    asked = parse_qs(query).get("tracemalloc", [""])[-1]
    if asked == "start" and not tracemalloc.is_tracing():
        tracemalloc.start()
    elif asked == "stop" and tracemalloc.is_tracing():
        tracemalloc.stop()
    counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
    out = io.StringIO()
    out.write(f"resident set size: {_rss()}\n")
    out.write(f"objects tracked by the garbage collector: {sum(counts.values())}\n\n")
    out.write("top types by count:\n")
    out.writelines(f"{n:>10}  {name}\n" for name, n in counts.most_common(TOP))
    if tracemalloc.is_tracing():
        stats = tracemalloc.take_snapshot().statistics("lineno")
        out.write("\ntracemalloc: live memory by allocating line (since it started):\n")
        out.writelines(f"{s.size:>12} B {s.count:>8}  {s.traceback}\n" for s in stats[:TOP])
    else:
        out.write("\ntracemalloc is off: ?tracemalloc=start to see allocation sites\n")
    return out.getvalue()


def _rss() -> str:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
