"""Run the controller with a probe that samples its number of asyncio tasks (test only).

    python -m tests.reliability.task_probe OUT.csv [reloader flags...]

The controller exposes no task count, and production code must not grow one for a test; so this
wrapper installs an event loop policy that remembers the loop the controller creates, and a
daemon thread appends ``<unix time>,<live tasks>`` to OUT.csv every half second. Everything else
is ``reloader.cli.main`` unchanged (signals, exit codes).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

from reloader.cli import main

LOOPS: list[asyncio.AbstractEventLoop] = []


class _RecordingPolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        LOOPS.append(loop)
        return loop


def _count(loop: asyncio.AbstractEventLoop) -> int | None:
    for _ in range(5):  # the set of tasks may change while we read it from this thread
        try:
            return len(asyncio.all_tasks(loop))
        except RuntimeError:
            time.sleep(0.01)
    return None


def _sample(out: Path) -> None:
    with out.open("a") as f:
        while True:
            if LOOPS and not LOOPS[-1].is_closed():
                count = _count(LOOPS[-1])
                if count is not None:
                    f.write(f"{time.time():.3f},{count}\n")
                    f.flush()
            time.sleep(0.5)


def run(argv: list[str]) -> int:
    out = Path(argv[0])
    asyncio.set_event_loop_policy(_RecordingPolicy())
    threading.Thread(target=_sample, args=(out,), daemon=True).start()
    return main(argv[1:])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
