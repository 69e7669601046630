"""The ``run`` command's flags: names, defaults and help, as stakater/Reloader has them.

Values are checked and converted to Settings in ``reloader.cli.convert``.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

from reloader import __version__
from reloader.core.annotations import AnnotationNames

LEADER_DURATIONS = {
    "leader-election-lease-duration": "15s",
    "leader-election-renew-deadline": "10s",
    "leader-election-retry-period": "2s",
}
#: logrus level names Reloader accepts → ours (trace is debug, fatal and panic are error)
LOG_LEVELS = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "fatal": "error",
    "panic": "error",
}

#: flag name → AnnotationNames field, for the flags that rename annotation keys
ANNOTATION_FLAGS = {
    "auto-annotation": "auto",
    "configmap-auto-annotation": "configmap_auto",
    "secret-auto-annotation": "secret_auto",
    "configmap-annotation": "configmap_reload",
    "secret-annotation": "secret_reload",
    "auto-search-annotation": "search",
    "search-match-annotation": "match",
    "ignore-annotation": "ignore",
    "pause-deployment-annotation": "pause_period",
    "pause-deployment-time-annotation": "paused_at",
}

#: a parser or one of its argument groups
Flags: TypeAlias = argparse._ActionsContainer


def _bool_flag(parser: Flags, name: str, help_text: str) -> None:
    parser.add_argument(f"--{name}", nargs="?", const="true", default="false", help=help_text)


def add_decision_flags(p: Flags) -> None:
    """The flags that change what the controller does with a workload: ``run`` and ``explain``
    both take them (explain converts them with ``convert.settings_from_args`` too)."""
    p.add_argument(
        "--reload-strategy", default="env-vars", help="env-vars (default) or annotations"
    )
    _bool_flag(p, "reload-on-create", "a source created while running rolls its workloads")
    _bool_flag(p, "reload-on-delete", "a deleted source rolls its workloads (delete strategy)")
    _bool_flag(p, "auto-reload-all", "reload every referencing workload unless auto is false")
    p.add_argument(
        "--resources-to-ignore",
        action="append",
        default=[],
        metavar="LIST",
        help="configmaps or secrets: do not watch that type",
    )
    p.add_argument(
        "--ignored-workload-types",
        action="append",
        default=[],
        metavar="LIST",
        help="jobs, cronjobs: never reload these kinds",
    )
    p.add_argument(
        "--namespaces",
        action="append",
        default=[],
        metavar="LIST",
        help="scoped mode: watch only these namespaces",
    )
    p.add_argument(
        "--namespaces-to-ignore",
        action="append",
        default=[],
        metavar="LIST",
        help="global mode: ignore these namespaces",
    )
    p.add_argument(
        "--namespace-selector",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="global mode: only namespaces matching these labels",
    )
    p.add_argument(
        "--resource-label-selector",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="only ConfigMaps/Secrets matching these labels (server-side)",
    )
    p.add_argument(
        "--schedule-deadline",
        default="1h",
        metavar="DURATION",
        help="a scheduled restart missed by more than this is skipped (docs/schedules.md)",
    )
    p.add_argument(
        "--schedule-jitter",
        default="0s",
        metavar="DURATION",
        help="delay each workload's scheduled restarts by a fixed 0..DURATION (hash of its name)",
    )
    # restarts when a watched tag moves (docs/images.md)
    p.add_argument(
        "--image-poll-interval",
        default="5m",
        metavar="DURATION",
        help="how often watched image tags are looked up (reloader.stakater.com/image-watch)",
    )
    p.add_argument(
        "--image-poll-interval-min",
        default="1m",
        metavar="DURATION",
        help="the shortest poll interval a workload's annotation may ask for",
    )
    p.add_argument(
        "--image-plain-http-registries",
        default="",
        metavar="HOSTS",
        help="registry hosts (host[:port], comma-separated) spoken to over plain HTTP",
    )
    p.add_argument(
        "--max-rollouts-in-progress",
        default="20",
        metavar="N",
        help="rollouts in progress at once, cluster-wide (0: no limit)",
    )
    p.add_argument(
        "--max-rollouts-per-namespace",
        default="0",
        metavar="N",
        help="rollouts in progress at once per namespace (0: no limit)",
    )
    p.add_argument(
        "--rollout-timeout",
        default="10m",
        metavar="DURATION",
        help="a rollout not complete after this long stops counting against limits",
    )
    p.add_argument(
        "--flapping-max-wait",
        default="1m",
        metavar="DURATION",
        help="longest a newer change waits for a workload's current rollout",
    )
    p.add_argument(
        "--canary-size",
        default="1",
        metavar="N|P%",
        help="a change shared by several workloads rolls this many first, then the rest in "
        "health-gated waves (0: no waves)",
    )
    p.add_argument(
        "--health-timeout",
        default="0",
        metavar="DURATION",
        help="how long a workload rolled in a wave has to become healthy (0: 5m, at most 80%% "
        "of its progress deadline)",
    )
    p.add_argument(
        "--reload-window",
        default="",
        metavar="WINDOW",
        help="reload only inside this window, e.g. 'Mon-Fri 09:00-17:00'",
    )
    p.add_argument(
        "--reload-window-timezone",
        default="UTC",
        metavar="ZONE",
        help="IANA time zone of --reload-window and of windows on workloads",
    )
    p.add_argument(
        "--webhook-url",
        default="",
        metavar="URL",
        help="webhook mode: POST what changed here instead of rolling workloads",
    )
    for flag, attr in ANNOTATION_FLAGS.items():
        p.add_argument(
            f"--{flag}",
            default=getattr(AnnotationNames(), attr),
            help=f"annotation key (default {getattr(AnnotationNames(), attr)})",
        )
    _bool_flag(p, "enable-csi-integration", "also reload on CSI SecretProviderClass changes")
    _bool_flag(p, "is-Argo-Rollouts", "also reload Argo Rollouts (needs the Rollout CRD)")
    p.add_argument(
        "--is-argo-rollouts",
        dest="is_Argo_Rollouts",
        nargs="?",
        const="true",
        default="false",
        help=argparse.SUPPRESS,
    )


def build_parser(epilog: str = "") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reloader",
        description="Roll Kubernetes workloads when the ConfigMaps and Secrets they use change\n"
        "(level-triggered; compatible with stakater/Reloader's annotations and flags).",
        epilog=f"{epilog}\n\n" * bool(epilog) + "Flags use Reloader's names; see docs/flags.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"reloader {__version__}")
    add_decision_flags(p)
    _bool_flag(
        p, "sync-after-restart", "accepted for compatibility; has no effect (level-triggered)"
    )
    p.add_argument(
        "--reload-debounce",
        default="50ms",
        metavar="DURATION",
        help="quiet time so changes made together roll once (a lone change waits 1/2 to 1x this)",
    )
    p.add_argument("--workers", default="16", help="concurrent reconciles (distinct workloads)")
    p.add_argument(
        "--schedule-max-concurrent",
        default="0",
        metavar="N",
        help="scheduled restarts rolling out at once (0: no limit)",
    )
    p.add_argument(
        "--max-writes-per-second",
        default="50",
        metavar="RATE",
        help="writes to the API per second (token bucket, bursts of 2x; 0: no limit)",
    )
    p.add_argument("--log-format", default="", help="json, console, or empty (auto)")
    p.add_argument("--log-level", default="info", help="debug, info, warning, error")
    p.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig path (default: $KUBECONFIG, in-cluster, ~/.kube/config)",
    )
    p.add_argument(
        "--metrics-addr",
        default=":9090",
        metavar="HOST:PORT",
        help="listen address for /metrics, /live, /ready",
    )
    _bool_flag(
        p,
        "enable-pprof",
        "serve debug endpoints (asyncio tasks, threads, heap) on --pprof-addr; never expose it",
    )
    p.add_argument(
        "--pprof-addr",
        default=":6060",
        metavar="HOST:PORT",
        help="listen address of the debug endpoints, with --enable-pprof",
    )
    _bool_flag(
        p,
        "dry-run",
        "decide and log every write (would_reload, with its patch), send none "
        "(also RELOADER_DRY_RUN=true)",
    )
    _bool_flag(p, "dry-run-events", "with --dry-run: post Events, their reasons prefixed DryRun")
    _bool_flag(p, "enable-ha", "leader election on a Lease; needs POD_NAME and POD_NAMESPACE")
    for flag, default in LEADER_DURATIONS.items():
        p.add_argument(
            f"--{flag}",
            default=default,
            metavar="DURATION",
            help=f"with --enable-ha (default {default})",
        )
    return p
