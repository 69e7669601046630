"""``reloader node-agent``: flags and KURED_* variables → NodeAgentSettings, then run the agent.

kured's flag names and meanings (docs/compatibility.md#kured) are kept, so a kured DaemonSet's
args and env work unchanged. As in kured, every flag can also be set as
``KURED_<FLAG_UPPER_UNDERSCORED>`` and the variable wins over the command line; unlike kured,
``KURED_BLOCKING_POD_SELECTOR`` works too. A bad value exits with code 2 before anything starts.

kured flags that address its DaemonSet-annotation lock (``--ds-name``, ``--lock-annotation``) and
Slack's no-op ``--slack-username``/``--slack-channel`` are accepted and ignored with a warning.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reloader.core.annotations import parse_bool
from reloader.core.durations import parse_duration
from reloader.errors import EXIT_USAGE, ConfigError, fail
from reloader.reboot.domain import marks as mark_rules
from reloader.reboot.domain.notify import NotifyTarget, parse_notify_url
from reloader.reboot.domain.windows import RebootWindow
from reloader.reboot.settings import (
    DEFAULT_REBOOT_COMMAND,
    DrainSettings,
    GateSettings,
    HostSettings,
    LockSettings,
    MarkSettings,
    NodeAgentSettings,
    NotifySettings,
)

ENV_PREFIX = "KURED_"


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    default: str | None
    help: str
    kind: str = "str"  # str | bool | list


FLAGS = (
    Flag("node-id", "", "this node's name (KURED_NODE_ID, else $NODE_NAME: the downward API)"),
    Flag("period", "1h", "how often to check whether a reboot is needed"),
    Flag("reboot-sentinel", "/var/run/reboot-required", "a reboot is needed while this exists"),
    Flag("reboot-sentinel-command", "", "a reboot is needed while this command exits 0"),
    Flag("reboot-days", None, "days reboots may start (su..sa or 0-6; default every day)", "list"),
    Flag("start-time", "0:00", "reboots may start from this time of day"),
    Flag("end-time", "23:59:59", "reboots may start until this time of day (inclusive)"),
    Flag("time-zone", "UTC", "time zone of the window: an IANA name, UTC or Local"),
    Flag("reboot-delay", "0", "wait this long between the drain and the reboot"),
    Flag("concurrency", "1", "at most this many nodes cordoned for reboot at once"),
    Flag("ds-namespace", "kube-system", "namespace of the lock Leases"),
    Flag("lock-name", "reloader-reboot", "lock Leases are named LOCK-NAME-0..concurrency-1"),
    Flag("lock-ttl", "30m", "a lock holder silent this long is written off (0: never)"),
    Flag("lock-release-delay", "0", "hold the lock this long after the node is back"),
    Flag("drain-timeout", "30m", "give up the drain after this long (0: no limit)"),
    Flag("drain-grace-period", "-1", "seconds each evicted pod gets (negative: its own)"),
    Flag("drain-pod-selector", "", "only evict pods matching this label selector"),
    Flag("drain-delay", "0", "wait this long before cordoning"),
    Flag("skip-wait-for-delete-timeout", "0", "stop waiting for pods deleted N seconds ago"),
    Flag("force-reboot", "false", "reboot even when the drain fails", "bool"),
    Flag("blocking-pod-selector", None, "pods on this node matching it block reboots", "list"),
    Flag("prometheus-url", "", "Prometheus whose active alerts block reboots"),
    Flag("alert-filter-regexp", "", "alert names to ignore (or, with match-only, to count)"),
    Flag("alert-filter-match-only", "false", "only alerts matching the regexp block", "bool"),
    Flag("alert-firing-only", "false", "only firing alerts block (not pending)", "bool"),
    Flag("wait-for-rollouts", "true", "hold reboots while workloads on the node roll", "bool"),
    Flag("reboot-method", "command", "command or signal"),
    Flag("reboot-command", " ".join(DEFAULT_REBOOT_COMMAND), "command that reboots the host"),
    Flag("reboot-signal", "39", "signal sent to PID 1 by --reboot-method=signal"),
    Flag(
        "nsenter", "true", "run host commands in the host's namespaces (pod with hostPID)", "bool"
    ),
    Flag("reboot-loop-limit", "3", "stop after N reboots that left the sentinel (0: never)"),
    Flag("reboot-loop-window", "24h", "the period --reboot-loop-limit counts over"),
    Flag("notify-url", None, "where to send notifications (slack://, teams://, https://)", "list"),
    Flag("slack-hook-url", "", "deprecated: use --notify-url"),
    Flag("message-template-drain", "Draining node %s", "notification before the drain"),
    Flag("message-template-reboot", "Rebooting node %s", "notification before the reboot"),
    Flag(
        "message-template-uncordon",
        "Node %s rebooted & uncordoned successfully!",
        "notification after the uncordon",
    ),
    Flag("prefer-no-schedule-taint", "", "PreferNoSchedule taint while waiting for the lock"),
    Flag("annotate-nodes", "false", "set kured's reboot annotations on the node", "bool"),
    Flag("pre-reboot-node-labels", None, "k=v labels set at drain start", "list"),
    Flag("post-reboot-node-labels", None, "k=v labels set with the uncordon", "list"),
    Flag("metrics-addr", ":8080", "listen address of /metrics, /live and /ready"),
    Flag("metrics-host", None, "kured's form: host of the metrics address"),
    Flag("metrics-port", None, "kured's form: port of the metrics address"),
    Flag("log-format", "", "json, console (kured's text), or empty (auto)"),
    Flag("log-level", "info", "debug, info, warning, error"),
    Flag("kubeconfig", None, "kubeconfig path (default: $KUBECONFIG, in-cluster, ~/.kube/config)"),
)
#: kured flags that have no meaning here: accepted, ignored, warned about
IGNORED = ("ds-name", "lock-annotation", "slack-username", "slack-channel")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reloader node-agent",
        description="Reboot this node when it needs it, one node (or --concurrency) at a time: "
        "lock, cordon, drain through the Eviction API, reboot, uncordon. See docs/node-reboots.md.",
    )
    for flag in FLAGS:
        if flag.kind == "list":
            p.add_argument(f"--{flag.name}", action="append", default=[], help=flag.help)
        elif flag.kind == "bool":
            p.add_argument(
                f"--{flag.name}", nargs="?", const="true", default=flag.default, help=flag.help
            )
        else:
            p.add_argument(f"--{flag.name}", default=flag.default, help=flag.help)
    for name in IGNORED:
        p.add_argument(f"--{name}", default=None, help="kured's; no effect here")
    return p


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _values(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, object]:
    """Flag values with KURED_* variables applied (the variable wins, as in kured)."""
    out: dict[str, object] = {}
    for name in [f.name for f in FLAGS] + list(IGNORED):
        value = getattr(args, name.replace("-", "_"))
        if env_name(name) in env:
            value = [env[env_name(name)]] if isinstance(value, list) else env[env_name(name)]
        out[name] = value
    return out


def _csv(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in str(item).split(",") if v.strip()]


class _Reader:
    """Typed access to the values, raising ConfigError that names the flag."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values

    def text(self, name: str) -> str:
        value = self.values[name]
        return "" if value is None else str(value)

    def items(self, name: str) -> list[str]:
        value = self.values[name]
        return [str(v) for v in value] if isinstance(value, list) else []

    def flag(self, name: str) -> bool:
        parsed = parse_bool(self.text(name))
        if parsed is None:
            raise ConfigError(f"--{name}: invalid boolean {self.text(name)!r} (use true or false)")
        return parsed

    def integer(self, name: str, *, minimum: int | None = None) -> int:
        text = self.text(name).strip()
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"--{name}: expected an integer, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise ConfigError(f"--{name}: must be at least {minimum}, got {value}")
        return value

    def duration(self, name: str, *, positive: bool = False) -> float:
        try:
            seconds = parse_duration(self.text(name))
        except ValueError as exc:
            raise ConfigError(f"--{name}: {exc}") from None
        if seconds < 0 or (positive and seconds == 0):
            raise ConfigError(f"--{name}: must be {'positive' if positive else '>= 0'}")
        return seconds

    def command(self, name: str) -> tuple[str, ...]:
        try:
            return tuple(shlex.split(self.text(name)))
        except ValueError as exc:
            raise ConfigError(f"--{name}: {exc}") from None


def _listen(r: _Reader) -> tuple[str, int]:
    host, sep, port = r.text("metrics-addr").rpartition(":")
    if r.values["metrics-host"] is not None:
        host = r.text("metrics-host")
    if r.values["metrics-port"] is not None:
        port, sep = r.text("metrics-port"), ":"
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"--metrics-addr: invalid listen address {r.text('metrics-addr')!r}")
    return host or "0.0.0.0", int(port)  # noqa: S104 - Prometheus scrapes the pod


def _notify(r: _Reader) -> tuple[NotifyTarget, ...]:
    urls = _csv(r.items("notify-url")) or (
        [r.text("slack-hook-url")] if r.text("slack-hook-url") else []
    )
    try:
        return tuple(parse_notify_url(u) for u in urls)
    except ValueError as exc:
        raise ConfigError(f"--notify-url: {exc}") from None


def _gates(r: _Reader) -> GateSettings:
    pattern = None
    if r.text("alert-filter-regexp"):
        try:
            pattern = re.compile(r.text("alert-filter-regexp"))
        except re.error as exc:
            raise ConfigError(f"--alert-filter-regexp: {exc}") from None
    url = r.text("prometheus-url")
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"--prometheus-url: expected an http(s) URL, got {url!r}")
    selectors = r.items("blocking-pod-selector")
    return GateSettings(
        blocking_pod_selectors=tuple(s.strip() for s in selectors if s.strip()),
        prometheus_url=url,
        alert_filter=pattern,
        alert_filter_match_only=r.flag("alert-filter-match-only"),
        alert_firing_only=r.flag("alert-firing-only"),
        wait_for_rollouts=r.flag("wait-for-rollouts"),
    )


def _host(r: _Reader) -> HostSettings:
    method = r.text("reboot-method")
    if method not in ("command", "signal"):
        raise ConfigError(f"--reboot-method: invalid value {method!r} (use command or signal)")
    command = r.command("reboot-command")
    if method == "command" and not command:
        raise ConfigError("--reboot-command: must not be empty")
    return HostSettings(
        sentinel_file=r.text("reboot-sentinel"),
        sentinel_command=r.command("reboot-sentinel-command"),
        method="signal" if method == "signal" else "command",
        reboot_command=command,
        reboot_signal=r.integer("reboot-signal", minimum=1),
        nsenter=r.flag("nsenter"),
    )


def _marks(r: _Reader) -> MarkSettings:
    taint = r.text("prefer-no-schedule-taint").strip()
    if taint and not mark_rules.valid_label_key(taint):
        raise ConfigError(f"--prefer-no-schedule-taint: {taint!r} is not a valid taint key")
    labels = {}
    for name in ("pre-reboot-node-labels", "post-reboot-node-labels"):
        try:
            labels[name] = mark_rules.parse_node_labels(r.items(name))
        except ValueError as exc:
            raise ConfigError(f"--{name}: {exc}") from None
    return MarkSettings(
        taint=taint,
        annotate=r.flag("annotate-nodes"),
        pre_labels=labels["pre-reboot-node-labels"],
        post_labels=labels["post-reboot-node-labels"],
    )


def _node(r: _Reader, env: Mapping[str, str]) -> str:
    node = r.text("node-id") or env.get("NODE_NAME", "")
    if not node:
        raise ConfigError("--node-id: required (or KURED_NODE_ID / NODE_NAME from spec.nodeName)")
    return node


def _window(r: _Reader) -> RebootWindow:
    try:
        return RebootWindow.parse(
            days=_csv(r.items("reboot-days")),
            start=r.text("start-time"),
            end=r.text("end-time"),
            time_zone=r.text("time-zone"),
        )
    except ValueError as exc:
        raise ConfigError(
            f"reboot window (--reboot-days/--start-time/--end-time/--time-zone): {exc}"
        ) from None


def _log(r: _Reader) -> tuple[str, str]:
    """The log format (kured's ``text`` is ``console``) and level (``warn`` is ``warning``)."""
    log_format = {"text": "console"}.get(r.text("log-format"), r.text("log-format"))
    if log_format not in ("", "json", "console"):
        raise ConfigError(
            f"--log-format: invalid value {r.text('log-format')!r} (use json or text)"
        )
    level = r.text("log-level").lower()
    if level not in ("debug", "info", "warning", "warn", "error"):
        raise ConfigError(f"--log-level: invalid value {r.text('log-level')!r}")
    return log_format, "warning" if level == "warn" else level


def _lock_name(r: _Reader) -> str:
    lock_name = r.text("lock-name")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", lock_name) or len(lock_name) > 200:
        raise ConfigError(f"--lock-name: not a valid object name prefix: {lock_name!r}")
    return lock_name


def _drain(r: _Reader) -> DrainSettings:
    return DrainSettings(
        timeout=r.duration("drain-timeout"),
        grace_period=r.integer("drain-grace-period"),
        pod_selector=r.text("drain-pod-selector"),
        skip_wait_for_delete_timeout=float(r.integer("skip-wait-for-delete-timeout", minimum=0)),
        delay=r.duration("drain-delay"),
        force_reboot=r.flag("force-reboot"),
    )


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> NodeAgentSettings:
    """Validate every value; raise ConfigError naming the first bad one."""
    r = _Reader(_values(args, env))
    node = _node(r, env)
    window = _window(r)
    log_format, log_level = _log(r)
    host, port = _listen(r)
    lock_name = _lock_name(r)
    return NodeAgentSettings(
        node=node,
        period=r.duration("period", positive=True),
        window=window,
        reboot_delay=r.duration("reboot-delay"),
        loop_limit=r.integer("reboot-loop-limit", minimum=0),
        loop_window=r.duration("reboot-loop-window", positive=True),
        lock=LockSettings(
            namespace=r.text("ds-namespace") or "kube-system",
            name=lock_name,
            concurrency=r.integer("concurrency", minimum=1),
            ttl=r.duration("lock-ttl"),
            release_delay=r.duration("lock-release-delay"),
        ),
        drain=_drain(r),
        gates=_gates(r),
        host=_host(r),
        notify=NotifySettings(
            targets=_notify(r),
            drain=r.text("message-template-drain"),
            reboot=r.text("message-template-reboot"),
            uncordon=r.text("message-template-uncordon"),
        ),
        marks=_marks(r),
        kubeconfig=r.text("kubeconfig") or None,
        metrics_host=host,
        metrics_port=port,
        log_format=log_format,
        log_level=log_level,
    )


def ignored_flags(args: argparse.Namespace, env: Mapping[str, str]) -> list[str]:
    """kured flags given that have no effect here (logged as a warning at startup)."""
    values = _values(args, env)
    return [f"--{name}" for name in IGNORED if values[name] is not None]


def main(argv: Sequence[str]) -> int:
    """Parse, validate and run; the process exit code (2 for a bad flag or variable)."""
    args = build_parser().parse_args(list(argv))
    try:
        settings = settings_from_args(args, os.environ)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    from reloader.reboot.main import run

    return run(settings, ignored=ignored_flags(args, os.environ))
