"""RSS of the controller process after each import step: where idle memory goes.

``python -m tests.bench.import_rss`` imports, in one fresh interpreter, the modules that
``reloader run`` loads (``reloader.cli`` first, as ``main`` does, then the libraries and
reloader's own modules, each step with what it imports; a ``module:function`` step calls the
function, as ``main`` calls ``_without_rich`` before it imports the controller), and prints the
resident set size after each step and what each step added. ``--modules a,b,c`` measures another
order; ``--json`` prints the figures as JSON. The numbers are Linux's ``/proc/self/statm``
(resident pages), so they include the interpreter and the shared libraries, as the benchmark's
psutil RSS does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

#: what ``python -m reloader`` imports before it runs, grouped the way it pulls them in
DEFAULT_STEPS = (
    "reloader.cli",
    "asyncio",
    "anyio",
    "orjson",
    "reloader.cli:_without_rich",
    "structlog",
    "prometheus_client",
    "reloader.observability.logging",
    "reloader.observability.metrics",
    "reloader.observability.server",
    "reloader.kube.client",
    "reloader.workloads.scope",
    "reloader.reload.controller",
    "reloader.schedule.controller",
    "reloader.images.controller",
    "reloader.app",
)

_CHILD = """
import importlib, json, os, sys
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
out = [["python", rss(), len(sys.modules)]]
for name in sys.argv[1:]:
    module_name, _, call = name.partition(":")
    module = importlib.import_module(module_name)
    if call and hasattr(module, call):  # absent in an older checkout: nothing to call
        getattr(module, call)()
    out.append([name, rss(), len(sys.modules)])
print(json.dumps(out))
"""


def measure(steps: list[str]) -> list[tuple[str, int, int]]:
    """(step, RSS in bytes after it, modules loaded) for each step, in one fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *steps],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    return [(name, int(rss), int(mods)) for name, rss, mods in json.loads(done.stdout)]


def table(rows: list[tuple[str, int, int]]) -> str:
    lines = [f"{'step':<42} {'RSS MB':>8} {'+MB':>6} {'modules':>8}"]
    before = 0
    for name, rss, mods in rows:
        added = (rss - before) / 1e6 if before else 0.0
        lines.append(f"{name:<42} {rss / 1e6:>8.1f} {added:>+6.1f} {mods:>8}")
        before = rss
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "RSS per import step").splitlines()[0])
    parser.add_argument("--modules", help="comma-separated import steps (default: reloader run's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    steps = args.modules.split(",") if args.modules else list(DEFAULT_STEPS)
    rows = measure(steps)
    print(json.dumps(rows) if args.json else table(rows))  # noqa: T201 - a command-line tool
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
