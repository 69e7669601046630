"""``reloader explain KIND/NAME``'s command line: its own options, and the run flags that change
what the controller does (``flags.add_decision_flags``), converted to Settings exactly as for
``run`` (``convert.settings_from_args``), so the explanation is for the controller as it runs.
run's other flags are accepted as run parses them and ignored, so the controller's args (a
Deployment's, or the chart's) can be passed as they are.
"""

from __future__ import annotations

import argparse
import copy
import os
from functools import partial
from typing import TYPE_CHECKING

import anyio

from reloader.cli.convert import settings_from_args
from reloader.cli.flags import add_decision_flags
from reloader.cli.flags import build_parser as run_parser
from reloader.commands.common import (
    UsageError,
    add_target_arguments,
    parse_target,
)
from reloader.commands.explain import explain_command
from reloader.errors import EXIT_USAGE, ConfigError, fail
from reloader.observability import logging as logging_setup

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from reloader.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reloader explain",
        description="Explain what the controller does with a workload and why: which "
        "ConfigMaps, Secrets and SecretProviderClasses it depends on, through which "
        "references, which annotation makes it reload (or why not), whether a reload is "
        "pending or held, and its restart schedule.",
        epilog="Pass the flags the controller runs with: the answer is for those. The "
        "controller's other flags (--log-level, --enable-ha, --workers, ...) are accepted as run "
        "takes them and ignored: they change no decision. "
        "Exit codes: 0 explained; 1 the API refused a read; 2 bad input.",
    )
    add_target_arguments(p, "deployment/web")
    p.add_argument("-o", "--output", default="text", choices=("text", "json"))
    add_decision_flags(
        p.add_argument_group(
            "the controller's flags",
            "the run flags that change what the controller does (same names, defaults, checks)",
        )
    )
    _accept_other_run_flags(p)
    return p


#: the dest of each run flag explain accepts only to ignore it
_IGNORED = "_ignored_run_flag_"


def _accept_other_run_flags(p: argparse.ArgumentParser) -> None:
    """run's flags that explain has not defined, parsed as run parses them, hidden from the
    help and stored where explain_settings never reads them."""
    taken = set(p._option_string_actions)
    for action in run_parser()._actions:
        if not action.option_strings or taken & set(action.option_strings):
            continue
        ignored = copy.copy(action)
        ignored.dest = _IGNORED + action.dest
        ignored.help = argparse.SUPPRESS
        p._add_action(ignored)


def explain_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """The Settings ``run`` would build from these flags (the others at their defaults).

    :raises ConfigError: a bad value, naming the flag.
    """
    merged = run_parser().parse_args([])
    for key, value in vars(args).items():
        if not key.startswith(_IGNORED):
            setattr(merged, key, value)
    return settings_from_args(merged, env)


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        kind, name = parse_target(args.target)
        settings = explain_settings(args, os.environ)
    except (UsageError, ConfigError) as exc:
        return fail(str(exc), EXIT_USAGE)
    logging_setup.configure(fmt="console", level="warning")
    run = partial(
        explain_command,
        kind=kind,
        name=name,
        namespace=args.namespace,
        settings=settings,
        as_json=args.output == "json",
    )
    return anyio.run(run)
