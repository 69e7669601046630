"""Command line: flags and environment → Settings, once; then run a subcommand.

Flags keep stakater/Reloader's names and meanings, so a Reloader Deployment's args work
unchanged. Where Reloader took a *string* that had to be exactly ``true`` (``--reload-on-create``,
``--is-Argo-Rollouts``), we accept what people type (``true``, ``True``, ``1``) and reject values
that are not booleans. A bad value exits with code 2 and a message naming the flag, before
anything starts. String-slice flags follow pflag: each value is a CSV record, repeats append.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from reloader.cli.convert import convert_selector, settings_from_args
from reloader.cli.flags import ANNOTATION_FLAGS, build_parser
from reloader.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ANNOTATION_FLAGS", "build_parser", "convert_selector", "main", "settings_from_args"]

SUBCOMMANDS = ("run",)  # restart (reloader/commands) and explain (cli/explain) have their own


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "restart":
        from reloader.commands.restart import main as restart

        return restart(argv[1:])
    if argv and argv[0] == "explain":
        from reloader.cli.explain import main as explain

        return explain(argv[1:])
    if argv and argv[0] == "node-agent":
        from reloader.reboot.cli import main as node_agent

        return node_agent(argv[1:])
    if argv and argv[0] in SUBCOMMANDS:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args, os.environ)
    except ConfigError as exc:
        print(f"reloader: error: {exc}", file=sys.stderr)  # noqa: T201 - before logging exists
        return 2
    from reloader.app import run

    return run(settings)
