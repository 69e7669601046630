"""Flags and environment → Settings, checked once: a bad value is a ConfigError naming the flag.

Where Reloader took a *string* that had to be exactly ``true`` (``--reload-on-create``,
``--is-Argo-Rollouts``), we accept what people type (``true``, ``True``, ``1``) and reject values
that are not booleans. String-slice flags follow pflag: each value is a CSV record, repeats append.
"""

from __future__ import annotations

import argparse
import csv
from typing import TYPE_CHECKING

from reloader.cli.flags import ANNOTATION_FLAGS, LEADER_DURATIONS, LOG_LEVELS
from reloader.core.annotations import AnnotationNames, SourceKind, parse_bool, split_list
from reloader.core.durations import parse_duration
from reloader.core.objects import CONFIGMAPS, SECRETS
from reloader.errors import ConfigError
from reloader.settings import (
    AlertSettings,
    HttpSettings,
    ImageSettings,
    KubeSettings,
    LeaderSettings,
    LogSettings,
    ReloadSettings,
    SafetySettings,
    ScheduleSettings,
    ScopeSettings,
    Settings,
    Strategy,
)
from reloader.workloads.domain.waves import parse_canary_size
from reloader.workloads.domain.windows import parse_window

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: the values of --resources-to-ignore
IGNORABLE_RESOURCES: Mapping[str, SourceKind] = {
    CONFIGMAPS.plural: SourceKind.CONFIGMAP,
    SECRETS.plural: SourceKind.SECRET,
}


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


def _duration(flag: str, value: str, *, zero: bool = False) -> float:
    """A positive duration (or, with ``zero``, a non-negative one) in seconds."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"--{flag}: {exc}") from None
    if zero and seconds < 0:
        raise ConfigError(f"--{flag}: must not be negative, got {value!r}")
    if not zero and seconds <= 0:
        raise ConfigError(f"--{flag}: must be positive, got {value!r}")
    return seconds


def _count(flag: str, value: str) -> int:
    if not _digits(value):
        raise ConfigError(f"--{flag}: expected a non-negative integer, got {value!r}")
    return int(value)


def _schedule(args: argparse.Namespace) -> ScheduleSettings:
    jitter = _duration("schedule-jitter", args.schedule_jitter, zero=True)
    return ScheduleSettings(
        deadline_seconds=_duration("schedule-deadline", args.schedule_deadline),
        max_concurrent=_count("schedule-max-concurrent", args.schedule_max_concurrent),
        jitter_seconds=int(jitter),
    )


def _images(args: argparse.Namespace) -> ImageSettings:
    interval = _duration("image-poll-interval", args.image_poll_interval)
    minimum = _duration("image-poll-interval-min", args.image_poll_interval_min)
    if interval < minimum:
        raise ConfigError(
            f"--image-poll-interval: {args.image_poll_interval!r} is below "
            f"--image-poll-interval-min ({args.image_poll_interval_min!r})"
        )
    hosts = split_list(args.image_plain_http_registries)
    return ImageSettings(interval=interval, min_interval=minimum, plain_http=hosts)


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
    try:
        parse_canary_size(args.canary_size)
    except ValueError as exc:
        raise ConfigError(f"--canary-size: {exc}") from None
    return SafetySettings(
        max_rollouts=_count("max-rollouts-in-progress", args.max_rollouts_in_progress),
        max_rollouts_per_namespace=_count(
            "max-rollouts-per-namespace", args.max_rollouts_per_namespace
        ),
        rollout_timeout=_duration("rollout-timeout", args.rollout_timeout),
        flap_max_wait=_duration("flapping-max-wait", args.flapping_max_wait),
        canary_size=args.canary_size.strip(),
        health_timeout=_duration("health-timeout", args.health_timeout, zero=True),
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


def _strategy(value: str) -> Strategy:
    try:
        return Strategy(value)
    except ValueError:
        raise ConfigError(
            f"--reload-strategy: invalid value {value!r} (use {' or '.join(Strategy)})"
        ) from None


def _ignored_resources(values: Sequence[str]) -> frozenset[SourceKind]:
    names = {v.lower() for v in _csv_values(values, "resources-to-ignore")}
    if bad := names - IGNORABLE_RESOURCES.keys():
        raise ConfigError(
            f"--resources-to-ignore: invalid value {min(bad)!r} "
            f"(use {' or '.join(IGNORABLE_RESOURCES)})"
        )
    ignored = frozenset(IGNORABLE_RESOURCES[name] for name in names)
    if len(ignored) > 1:
        raise ConfigError("--resources-to-ignore: configmaps and secrets cannot both be ignored")
    return ignored


def _ignored_workload_types(values: Sequence[str]) -> frozenset[str]:
    types = set(_csv_values(values, "ignored-workload-types"))
    if bad := types - {"jobs", "cronjobs"}:
        raise ConfigError(
            f"--ignored-workload-types: invalid value {min(bad)!r} (use jobs or cronjobs)"
        )
    return frozenset(types)


def _workers(value: str) -> int:
    if not _digits(value) or int(value) < 1:
        raise ConfigError(f"--workers: expected a positive integer, got {value!r}")
    return int(value)


def _log(args: argparse.Namespace) -> LogSettings:
    if args.log_format not in ("", "json", "console", "text"):
        raise ConfigError(f"--log-format: invalid value {args.log_format!r} (use json or console)")
    if args.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log-level: invalid value {args.log_level!r}")
    return LogSettings(format=args.log_format, level=LOG_LEVELS[args.log_level.lower()])


def _dry_run(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[bool, bool]:
    """--dry-run (or RELOADER_DRY_RUN: either one turns it on) and --dry-run-events."""
    dry_run = _bool("dry-run", args.dry_run)
    if value := env.get("RELOADER_DRY_RUN", "").strip():
        parsed = parse_bool(value)
        if parsed is None:
            raise ConfigError(f"RELOADER_DRY_RUN: invalid boolean {value!r} (use true or false)")
        dry_run = dry_run or parsed
    events = _bool("dry-run-events", args.dry_run_events)
    if events and not dry_run:
        raise ConfigError("--dry-run-events: only with --dry-run (a real run posts its Events)")
    return dry_run, events


def _annotation_names(args: argparse.Namespace) -> AnnotationNames:
    names = AnnotationNames(
        **{attr: getattr(args, flag.replace("-", "_")) for flag, attr in ANNOTATION_FLAGS.items()}
    )
    for flag, attr in ANNOTATION_FLAGS.items():
        if not getattr(names, attr):
            raise ConfigError(f"--{flag}: the annotation name must not be empty")
    return names


def _namespaces(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, ...]:
    """--namespaces, else $KUBERNETES_NAMESPACE, else none (every namespace)."""
    namespaces = tuple(_csv_values(args.namespaces, "namespaces"))
    if not namespaces and env.get("KUBERNETES_NAMESPACE"):
        namespaces = (env["KUBERNETES_NAMESPACE"],)
    return namespaces


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    """Validate every flag and environment value; raise ConfigError naming the first bad one."""
    strategy = _strategy(args.reload_strategy)
    ignored_resources = _ignored_resources(args.resources_to_ignore)
    workload_types = _ignored_workload_types(args.ignored_workload_types)
    debounce = _duration("reload-debounce", args.reload_debounce, zero=True)
    workers = _workers(args.workers)
    log = _log(args)
    names = _annotation_names(args)
    namespaces = _namespaces(args, env)
    dry_run, dry_run_events = _dry_run(args, env)
    return Settings(
        reload=ReloadSettings(
            strategy=strategy,
            auto_reload_all=_bool("auto-reload-all", args.auto_reload_all),
            resources_to_ignore=ignored_resources,
            ignored_workload_types=workload_types,
            sync_after_restart=_bool("sync-after-restart", args.sync_after_restart),
            debounce_seconds=debounce,
            argo_rollouts=_bool("is-Argo-Rollouts", args.is_Argo_Rollouts),
            reload_on_create=_bool("reload-on-create", args.reload_on_create),
            webhook_url=_url("webhook-url", args.webhook_url),
            csi=_bool("enable-csi-integration", args.enable_csi_integration),
            reload_on_delete=_bool("reload-on-delete", args.reload_on_delete),
            workers=workers,
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
        log=log,
        http=_listen("metrics-addr", args.metrics_addr),
        pprof=(
            _listen("pprof-addr", args.pprof_addr)
            if _bool("enable-pprof", args.enable_pprof)
            else None
        ),
        kube=KubeSettings(kubeconfig=args.kubeconfig),
        metrics_by_namespace=env.get("METRICS_COUNT_BY_NAMESPACE") == "enabled",
        job_journal_namespace=env.get("RELOADER_NAMESPACE") or env.get("POD_NAMESPACE", ""),
        dry_run=dry_run,
        dry_run_events=dry_run_events,
        alerts=AlertSettings.from_env(env),
        leader=_leader(args, env),
        safety=_safety(args),
        schedule=_schedule(args),
        images=_images(args),
    )
