"""Command line: flags and environment → Settings, once; then run a subcommand.

Flags keep stakater/Reloader's names and meanings (spec §2), so a Reloader Deployment's args work
unchanged. Where Reloader took a *string* that had to be exactly ``true`` (``--reload-on-create``,
``--is-Argo-Rollouts``), we accept what people type (``true``, ``True``, ``1``) and reject values
that are not booleans. A bad value exits with code 2 and a message naming the flag, before
anything starts. String-slice flags follow pflag: each value is a CSV record, repeats append.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import TYPE_CHECKING

from reloader import __version__
from reloader.domain.annotations import AnnotationNames, parse_bool
from reloader.domain.durations import parse_duration
from reloader.domain.holds import parse_window
from reloader.errors import ConfigError
from reloader.settings import (
    AlertSettings,
    HttpSettings,
    KubeSettings,
    LeaderSettings,
    LogSettings,
    ReloadSettings,
    SafetySettings,
    ScheduleSettings,
    ScopeSettings,
    Settings,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SUBCOMMANDS = ("run",)  # restart and explain have their own parsers (reloader/commands)
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

#: Reloader flags whose feature is not built yet: accepted only with their default value, so a
#: Reloader Deployment that sets them fails loudly instead of silently doing less.
NOT_YET = {
    "enable-pprof": "false",
}


def _bool_flag(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    parser.add_argument(f"--{name}", nargs="?", const="true", default="false", help=help_text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reloader",
        description="Roll Kubernetes workloads when the ConfigMaps and Secrets they use change "
        "(level-triggered; compatible with stakater/Reloader's annotations and flags).",
        epilog="Subcommands: run (default), restart KIND/NAME, explain KIND/NAME (each has "
        "--help). Flags use Reloader's names; see docs/flags.md.",
    )
    p.add_argument("--version", action="version", version=f"reloader {__version__}")
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
    _bool_flag(
        p, "sync-after-restart", "accepted for compatibility; has no effect (level-triggered)"
    )
    p.add_argument(
        "--reload-debounce",
        default="50ms",
        metavar="DURATION",
        help="wait this long after a change so changes made together roll once",
    )
    p.add_argument("--workers", default="16", help="concurrent reconciles (distinct workloads)")
    p.add_argument(
        "--schedule-deadline",
        default="1h",
        metavar="DURATION",
        help="a scheduled restart missed by more than this is skipped (docs/schedules.md)",
    )
    p.add_argument(
        "--schedule-max-concurrent",
        default="0",
        metavar="N",
        help="scheduled restarts rolling out at once (0: no limit)",
    )
    p.add_argument(
        "--schedule-jitter",
        default="0s",
        metavar="DURATION",
        help="delay each workload's scheduled restarts by a fixed 0..DURATION (hash of its name)",
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
        "--max-writes-per-second",
        default="50",
        metavar="RATE",
        help="writes to the API per second (token bucket, bursts of 2x; 0: no limit)",
    )
    p.add_argument(
        "--webhook-url",
        default="",
        metavar="URL",
        help="webhook mode: POST what changed here instead of rolling workloads",
    )
    p.add_argument("--log-format", default="", help="json, console, or empty (auto)")
    p.add_argument("--log-level", default="info", help="debug, info, warning, error")
    p.add_argument(
        "--kubeconfig",
        default=None,
        help="kubeconfig path (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    p.add_argument(
        "--metrics-addr",
        default=":9090",
        metavar="HOST:PORT",
        help="listen address for /metrics, /live, /ready",
    )
    for flag, attr in ANNOTATION_FLAGS.items():
        p.add_argument(
            f"--{flag}",
            default=getattr(AnnotationNames(), attr),
            help=f"annotation key (default {getattr(AnnotationNames(), attr)})",
        )
    for flag, default in NOT_YET.items():
        p.add_argument(
            f"--{flag}",
            default=default,
            nargs="?",
            const="true",
            help="not implemented yet: only the default is accepted",
        )
    _bool_flag(p, "enable-ha", "leader election on a Lease; needs POD_NAME and POD_NAMESPACE")
    for flag, default in LEADER_DURATIONS.items():
        p.add_argument(
            f"--{flag}",
            default=default,
            metavar="DURATION",
            help=f"with --enable-ha (default {default})",
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
    p.add_argument("--pprof-addr", default=":6060", help=argparse.SUPPRESS)
    return p


def _csv_values(values: Sequence[str], flag: str = "") -> list[str]:
    out: list[str] = []
    for value in values:
        try:
            records = list(csv.reader([value]))
        except csv.Error as exc:
            raise ConfigError(f"--{flag}: invalid list {value[:80]!r}: {exc}") from None
        for record in records:
            out.extend(v.strip() for v in record if v.strip())
    return out


def _digits(value: str) -> bool:
    """Plain ASCII digits only (str.isdigit also accepts '²' and other digits int() rejects),
    and at most 9 of them (no flag needs more; int() refuses thousands of digits)."""
    return value.isascii() and value.isdigit() and len(value) <= 9


def _bool(flag: str, value: str) -> bool:
    parsed = parse_bool(value)
    if parsed is None:
        raise ConfigError(f"--{flag}: invalid boolean {value!r} (use true or false)")
    return parsed


def convert_selector(values: Sequence[str], flag: str = "") -> str:
    """Join selectors with ',' and convert Reloader's legacy forms: k:v → k=v, k:* / k=* → k."""
    out = []
    for item in _csv_values(values, flag):
        for sep in (":", "="):
            if item.endswith(f"{sep}*"):
                item = item[:-2]
                break
        if ":" in item and "=" not in item:
            item = item.replace(":", "=", 1)
        out.append(item)
    return ",".join(out)


def _url(flag: str, value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(f"--{flag}: expected an http:// or https:// URL, got {value!r}")
    return value


def _listen(flag: str, value: str) -> HttpSettings:
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # [::]:9090, an IPv6 address
    if not sep or not _digits(port) or not 0 <= int(port) < 65536:
        raise ConfigError(f"--{flag}: invalid listen address {value!r} (use HOST:PORT or :PORT)")
    return HttpSettings(host=host or "0.0.0.0", port=int(port))  # noqa: S104 - see HttpSettings


def _duration(flag: str, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"--{flag}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"--{flag}: must be positive, got {value!r}")
    return seconds


def _count(flag: str, value: str) -> int:
    if not _digits(value):
        raise ConfigError(f"--{flag}: expected a non-negative integer, got {value!r}")
    return int(value)


def _schedule(args: argparse.Namespace) -> ScheduleSettings:
    try:
        jitter = parse_duration(args.schedule_jitter)
    except ValueError as exc:
        raise ConfigError(f"--schedule-jitter: {exc}") from None
    if jitter < 0:
        raise ConfigError(f"--schedule-jitter: must not be negative, got {args.schedule_jitter!r}")
    return ScheduleSettings(
        deadline_seconds=_duration("schedule-deadline", args.schedule_deadline),
        max_concurrent=_count("schedule-max-concurrent", args.schedule_max_concurrent),
        jitter_seconds=int(jitter),
    )


def _safety(args: argparse.Namespace) -> SafetySettings:
    try:
        rate = float(args.max_writes_per_second)
    except ValueError:
        rate = -1.0
    if not 0 <= rate < float("inf"):  # also rejects nan
        raise ConfigError(
            f"--max-writes-per-second: expected a non-negative number, got "
            f"{args.max_writes_per_second!r}"
        )
    if args.reload_window:
        try:
            parse_window(args.reload_window, args.reload_window_timezone)
        except ValueError as exc:
            raise ConfigError(f"--reload-window: {exc}") from None
    try:
        parse_window("00:00-01:00", args.reload_window_timezone)
    except ValueError as exc:
        raise ConfigError(f"--reload-window-timezone: {exc}") from None
    return SafetySettings(
        max_rollouts=_count("max-rollouts-in-progress", args.max_rollouts_in_progress),
        max_rollouts_per_namespace=_count(
            "max-rollouts-per-namespace", args.max_rollouts_per_namespace
        ),
        rollout_timeout=_duration("rollout-timeout", args.rollout_timeout),
        flap_max_wait=_duration("flapping-max-wait", args.flapping_max_wait),
        window=args.reload_window,
        window_timezone=args.reload_window_timezone,
        writes_per_second=rate,
        write_burst=max(1, int(rate * 2)),
    )


def _leader(args: argparse.Namespace, env: Mapping[str, str]) -> LeaderSettings:
    enabled = _bool("enable-ha", args.enable_ha)
    lease, renew, retry = (
        _duration(flag, getattr(args, flag.replace("-", "_"))) for flag in LEADER_DURATIONS
    )
    if not retry < renew < lease:
        raise ConfigError(
            "--leader-election-*: need retry period < renew deadline < lease duration"
        )
    if enabled and not (env.get("POD_NAME") and env.get("POD_NAMESPACE")):
        raise ConfigError(
            "--enable-ha needs the POD_NAME and POD_NAMESPACE environment variables "
            "(the downward API: metadata.name and metadata.namespace)"
        )
    return LeaderSettings(
        enabled=enabled,
        namespace=env.get("POD_NAMESPACE", ""),
        identity=env.get("POD_NAME", ""),
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
    )


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Validate every flag and environment value; raise ConfigError naming the first bad one."""
    strategy = args.reload_strategy
    if strategy not in ("env-vars", "annotations"):
        raise ConfigError(
            f"--reload-strategy: invalid value {strategy!r} (use env-vars or annotations)"
        )
    ignored_resources = {
        v.lower() for v in _csv_values(args.resources_to_ignore, "resources-to-ignore")
    }
    if bad := ignored_resources - {"configmaps", "secrets"}:
        raise ConfigError(
            f"--resources-to-ignore: invalid value {min(bad)!r} (use configmaps or secrets)"
        )
    if len(ignored_resources) > 1:
        raise ConfigError("--resources-to-ignore: configmaps and secrets cannot both be ignored")
    workload_types = set(_csv_values(args.ignored_workload_types, "ignored-workload-types"))
    if bad := workload_types - {"jobs", "cronjobs"}:
        raise ConfigError(
            f"--ignored-workload-types: invalid value {min(bad)!r} (use jobs or cronjobs)"
        )
    try:
        debounce = parse_duration(args.reload_debounce)
    except ValueError as exc:
        raise ConfigError(f"--reload-debounce: {exc}") from None
    if debounce < 0:
        raise ConfigError(f"--reload-debounce: must not be negative, got {args.reload_debounce!r}")
    if not _digits(args.workers) or int(args.workers) < 1:
        raise ConfigError(f"--workers: expected a positive integer, got {args.workers!r}")
    if args.log_format not in ("", "json", "console", "text"):
        raise ConfigError(f"--log-format: invalid value {args.log_format!r} (use json or console)")
    if args.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log-level: invalid value {args.log_level!r}")
    for flag, default in NOT_YET.items():
        value = getattr(args, flag.replace("-", "_"))
        is_default = value == default or (default == "false" and parse_bool(value) is False)
        if not is_default:
            raise ConfigError(
                f"--{flag}: not implemented yet in this version of reloader "
                f"(only {default!r} is accepted)"
            )
    names = AnnotationNames(
        **{attr: getattr(args, flag.replace("-", "_")) for flag, attr in ANNOTATION_FLAGS.items()}
    )
    for flag, attr in ANNOTATION_FLAGS.items():
        if not getattr(names, attr):
            raise ConfigError(f"--{flag}: the annotation name must not be empty")
    namespaces = tuple(_csv_values(args.namespaces, "namespaces"))
    if not namespaces and env.get("KUBERNETES_NAMESPACE"):
        namespaces = (env["KUBERNETES_NAMESPACE"],)
    return Settings(
        reload=ReloadSettings(
            strategy=strategy,
            auto_reload_all=_bool("auto-reload-all", args.auto_reload_all),
            resources_to_ignore=frozenset(ignored_resources),
            ignored_workload_types=frozenset(workload_types),
            sync_after_restart=_bool("sync-after-restart", args.sync_after_restart),
            debounce_seconds=debounce,
            argo_rollouts=_bool("is-Argo-Rollouts", args.is_Argo_Rollouts),
            reload_on_create=_bool("reload-on-create", args.reload_on_create),
            webhook_url=_url("webhook-url", args.webhook_url),
            csi=_bool("enable-csi-integration", args.enable_csi_integration),
            reload_on_delete=_bool("reload-on-delete", args.reload_on_delete),
            workers=int(args.workers),
        ),
        scope=ScopeSettings(
            namespaces=namespaces,
            namespaces_to_ignore=frozenset(
                _csv_values(args.namespaces_to_ignore, "namespaces-to-ignore")
            ),
            namespace_selector=convert_selector(args.namespace_selector, "namespace-selector"),
            resource_label_selector=convert_selector(
                args.resource_label_selector, "resource-label-selector"
            ),
        ),
        names=names,
        log=LogSettings(format=args.log_format, level=LOG_LEVELS[args.log_level.lower()]),
        http=_listen("metrics-addr", args.metrics_addr),
        kube=KubeSettings(kubeconfig=args.kubeconfig),
        metrics_by_namespace=env.get("METRICS_COUNT_BY_NAMESPACE") == "enabled",
        alerts=AlertSettings.from_env(env),
        leader=_leader(args, env),
        safety=_safety(args),
        schedule=_schedule(args),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "restart":
        from reloader.commands.restart import main as restart

        return restart(argv[1:])
    if argv and argv[0] == "explain":
        from reloader.commands.explain import main as explain

        return explain(argv[1:])
    if argv and argv[0] == "node-agent":
        from reloader.commands.node_agent import main as node_agent

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
