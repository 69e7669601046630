"""What ``reloader restart`` and ``reloader explain`` share: KIND/NAME, namespaces, exit codes.

Exit codes: 0 done; 1 the action failed or timed out (or the API refused it); 2 bad input (an
unknown kind, a malformed KIND/NAME, an object that does not exist, an unusable kubeconfig),
with a message naming what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from reloader.errors import ReloaderError
from reloader.workloads.domain.kinds import KINDS, WorkloadKind

if TYPE_CHECKING:
    from collections.abc import Mapping

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

#: every spelling kubectl accepts for the supported kinds (singular, plural, short name)
KIND_ALIASES: Mapping[str, str] = {
    alias: kind
    for kind, aliases in {
        "Deployment": ("deployment", "deployments", "deploy"),
        "DaemonSet": ("daemonset", "daemonsets", "ds"),
        "StatefulSet": ("statefulset", "statefulsets", "sts"),
        "CronJob": ("cronjob", "cronjobs", "cj"),
        "Job": ("job", "jobs"),
        "Rollout": ("rollout", "rollouts", "ro"),
    }.items()
    for alias in aliases
}


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
    kind_name = KIND_ALIASES.get(kind_text.split(".", 1)[0].lower())
    if kind_name is None:
        supported = ", ".join(KINDS)
        raise UsageError(f"unsupported kind {kind_text!r} (supported: {supported})")
    return KINDS[kind_name], name


def default_namespace(kubeconfig: str | None) -> str:
    """The namespace of the kubeconfig's current context, as kubectl picks it; else the pod's
    service-account namespace in a cluster; else ``default``."""
    path = kubeconfig or (os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None)
    candidate = Path(path) if path else Path.home() / ".kube" / "config"
    try:
        config: Any = yaml.safe_load(candidate.read_text())
    except (OSError, yaml.YAMLError):
        config = None
    if isinstance(config, dict):
        current = config.get("current-context")
        for context in config.get("contexts") or []:
            if isinstance(context, dict) and context.get("name") == current:
                namespace = (context.get("context") or {}).get("namespace")
                if isinstance(namespace, str) and namespace:
                    return namespace
        return "default"
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
