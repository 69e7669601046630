"""Command line: flags and environment → Settings, once; then run a subcommand.

Flags keep stakater/Reloader's names and meanings, so a Reloader Deployment's args work
unchanged. Where Reloader took a *string* that had to be exactly ``true`` (``--reload-on-create``,
``--is-Argo-Rollouts``), we accept what people type (``true``, ``True``, ``1``) and reject values
that are not booleans. A bad value exits with code 2 and a message naming the flag, before
anything starts. String-slice flags follow pflag: each value is a CSV record, repeats append.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING

from reloader.cli.convert import convert_selector, settings_from_args
from reloader.cli.flags import ANNOTATION_FLAGS, build_parser
from reloader.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["ANNOTATION_FLAGS", "build_parser", "convert_selector", "main", "settings_from_args"]

#: subcommands other than ``run`` (the default): name → (module with a ``main(argv)``, help)
SUBCOMMANDS: Mapping[str, tuple[str, str]] = {
    "restart": (
        "reloader.commands.restart",
        "restart a workload now, the kind's own way",
    ),
    "explain": ("reloader.cli.explain", "why a workload reloads or not, as the controller decides"),
    "node-agent": ("reloader.reboot.cli", "the node agent: coordinated node reboots (kured)"),
}


def subcommands_help() -> str:
    """The epilog of ``reloader --help``: every subcommand, one line each."""
    lines = ["subcommands (each has --help):", "  run (default)  the controller"]
    lines += [f"  {name:<14} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def _without_rich() -> None:
    """Keep structlog from importing rich (and pygments) in a fresh process.

    structlog imports them whenever they are installed, for pretty tracebacks that reloader never
    renders (its console renderer is given ``plain_traceback``, its JSON tracebacks have no
    locals). They are not reloader's dependencies, but a development environment has them
    (import-linter needs rich), and they cost 3.6 MB of RSS (tests/bench/import_rss.py).
    A process that has imported structlog already (a test calling ``main``) is left as it is.
    """
    if "structlog" not in sys.modules:
        # None in sys.modules makes "import rich" raise ImportError, as if it were not installed
        sys.modules.setdefault("rich", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """``reloader`` and ``kubectl reloader`` (the ``kubectl-reloader`` entry point)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        _without_rich()
        module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
        code: int = module.main(argv[1:])
        return code
    if argv and argv[0] == "run":
        argv = argv[1:]
    args = build_parser(subcommands_help()).parse_args(argv)
    try:
        settings = settings_from_args(args, os.environ)
    except ConfigError as exc:
        print(f"reloader: error: {exc}", file=sys.stderr)  # noqa: T201 - before logging exists
        return 2
    _without_rich()
    from reloader.app import run

    return run(settings)
