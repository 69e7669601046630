"""What ``reloader restart`` and ``reloader explain`` share: KIND/NAME, the client, exit codes.

Exit codes: 0 done; 1 the action failed or timed out (or the API refused it); 2 bad input (an
unknown kind, a malformed KIND/NAME, an object that does not exist, an unusable kubeconfig),
with a message naming what is wrong.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from reloader.errors import ReloaderError
from reloader.kube.client import KubeClient
from reloader.workloads.domain.kinds import KINDS, KINDS_BY_ALIAS

if TYPE_CHECKING:
    from reloader.workloads.domain.kinds import WorkloadKind


def add_target_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """``KIND/NAME``, ``-n/--namespace`` and ``--kubeconfig``, as both subcommands take them."""
    parser.add_argument("target", metavar="KIND/NAME", help=f"e.g. {example}")
    parser.add_argument("-n", "--namespace", default=None, help="default: the kubeconfig context's")
    parser.add_argument(
        "--kubeconfig", default=None, help="default: $KUBECONFIG, in-cluster, ~/.kube/config"
    )


async def connect(kubeconfig: str | None, namespace: str | None) -> tuple[KubeClient, str]:
    """The API client and the namespace to act in: ``-n``, else the default namespace of the
    same loaded configuration (the context's, else in a cluster the pod's, else ``default``),
    so the kubeconfig is read once, by the loader every command uses.

    :raises ConfigError: no usable configuration.
    """
    client = await KubeClient.connect(kubeconfig=kubeconfig)
    return client, namespace or client.namespace


class UsageError(ReloaderError):
    """Raised for bad command-line input; the command exits with 2."""


def parse_target(text: str) -> tuple[WorkloadKind, str]:
    """``KIND/NAME`` (kind case-insensitive, with kubectl's plural and short names).

    A kind may carry its API group (``deployments.apps/web``), as kubectl prints it.
    :raises UsageError: malformed, or a kind that is not supported.
    """
    kind_text, sep, name = text.partition("/")
    if not sep or not kind_text or not name or "/" in name:
        raise UsageError(f"expected KIND/NAME (e.g. deployment/web), got {text!r}")
    kind = KINDS_BY_ALIAS.get(kind_text.split(".", 1)[0].lower())
    if kind is None:
        supported = ", ".join(KINDS)
        raise UsageError(f"unsupported kind {kind_text!r} (supported: {supported})")
    return kind, name
