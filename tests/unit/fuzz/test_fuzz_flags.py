"""Fuzzing flag and environment values: ``settings_from_args`` either returns Settings or raises
ConfigError naming the flag (the CLI turns that into exit code 2 before anything starts); no
other exception may escape, since it would be a traceback instead of a message.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.cli import ANNOTATION_FLAGS, build_parser, convert_selector, main, settings_from_args
from reloader.core.annotations import SourceKind
from reloader.core.durations import parse_duration
from reloader.errors import ConfigError
from reloader.settings import HttpSettings, Settings
from tests.unit.fuzz.strategies import (
    ANNOTATION_VALUES,
    DURATION_TEXT,
    FAST,
    IGNORE_GC_CALLBACK,
)

pytestmark = IGNORE_GC_CALLBACK
PARSER = build_parser()
#: every flag that takes a value (argparse's own --help/--version aside)
FLAGS: tuple[str, ...] = tuple(
    sorted(
        {
            action.option_strings[0].removeprefix("--")
            for action in PARSER._actions
            if action.option_strings and action.dest not in ("help", "version")
        }
    )
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(("0", "00", "-0", "+1", "1.5", "1e3", "0x10", "²", "١٢", "Ⅻ", " 1", "1 ")),
)
FLAG_VALUES = st.one_of(
    ANNOTATION_VALUES,
    DURATION_TEXT,
    NUMBERS,
    st.sampled_from(("true", "false", "True", "1", "yes", "json", "debug", ":9090", "[::]:1")),
    st.sampled_from(("configmaps", "secrets", "jobs", "cronjobs", "configmaps,secrets", "a:b")),
)
ENV = st.dictionaries(
    st.sampled_from(
        (
            "POD_NAME",
            "POD_NAMESPACE",
            "KUBERNETES_NAMESPACE",
            "METRICS_COUNT_BY_NAMESPACE",
            "ALERT_ON_RELOAD",
            "ALERT_WEBHOOK_URL",
            "ALERT_SINK",
            "ALERT_WEBHOOK_PROXY",
            "ALERT_ADDITIONAL_INFO",
        )
    ),
    st.one_of(st.text(max_size=20), st.sampled_from(("true", "enabled", "slack", ""))),
)


def _settings(argv: list[str], env: dict[str, str]) -> Settings:
    return settings_from_args(PARSER.parse_args(argv), env)


DEFAULT = settings_from_args(PARSER.parse_args([]), {})


def _with(group: str, **fields: Any) -> Settings:
    """The default Settings with these fields of one group changed."""
    return replace(DEFAULT, **{group: replace(getattr(DEFAULT, group), **fields)})


#: Go's strconv.ParseBool, the only spellings a boolean flag accepts
BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
#: logrus level names (any case) → ours: trace is debug, fatal and panic are error
LEVELS = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "warning": "warning",
    "warn": "warning",
    "error": "error",
    "fatal": "error",
    "panic": "error",
}


def _items(value: str) -> list[str]:
    """A string-slice flag's value: a CSV record (pflag), trimmed, empty items dropped."""
    return [item.strip() for record in csv.reader([value]) for item in record if item.strip()]


def _listen(value: str) -> Settings:
    """HOST:PORT, [IPv6]:PORT or :PORT (no host: the default one, every interface)."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") or DEFAULT.http.host
    return _with("http", host=host, port=int(port))


def _annotation(attr: str) -> Callable[[str], Settings]:
    return lambda v: _with("names", **{attr: v})


def _rate(value: str) -> Settings:
    rate = float(value)
    return _with("safety", writes_per_second=rate, write_burst=max(1, int(rate * 2)))


#: flag → the Settings one valid value of it gives (every other field keeps its default)
_SOURCES = {"configmaps": SourceKind.CONFIGMAP, "secrets": SourceKind.SECRET}
EXPECTED: dict[str, Callable[[str], Settings]] = {
    "reload-strategy": lambda v: _with("reload", strategy=v),
    "reload-on-create": lambda v: _with("reload", reload_on_create=BOOLS[v]),
    "reload-on-delete": lambda v: _with("reload", reload_on_delete=BOOLS[v]),
    "auto-reload-all": lambda v: _with("reload", auto_reload_all=BOOLS[v]),
    "sync-after-restart": lambda v: _with("reload", sync_after_restart=BOOLS[v]),
    "enable-csi-integration": lambda v: _with("reload", csi=BOOLS[v]),
    "is-Argo-Rollouts": lambda v: _with("reload", argo_rollouts=BOOLS[v]),
    "is-argo-rollouts": lambda v: _with("reload", argo_rollouts=BOOLS[v]),
    "resources-to-ignore": lambda v: _with(
        "reload", resources_to_ignore=frozenset(_SOURCES[i.lower()] for i in _items(v))
    ),
    "ignored-workload-types": lambda v: _with(
        "reload", ignored_workload_types=frozenset(_items(v))
    ),
    "reload-debounce": lambda v: _with("reload", debounce_seconds=parse_duration(v)),
    "workers": lambda v: _with("reload", workers=int(v)),
    "webhook-url": lambda v: _with("reload", webhook_url=v),
    "namespaces": lambda v: _with("scope", namespaces=tuple(_items(v))),
    "namespaces-to-ignore": lambda v: _with("scope", namespaces_to_ignore=frozenset(_items(v))),
    "namespace-selector": lambda v: _with("scope", namespace_selector=convert_selector([v])),
    "resource-label-selector": lambda v: _with(
        "scope", resource_label_selector=convert_selector([v])
    ),
    **{flag: _annotation(attr) for flag, attr in ANNOTATION_FLAGS.items()},
    "log-format": lambda v: _with("log", format=v),
    "log-level": lambda v: _with("log", level=LEVELS[v.lower()]),
    "metrics-addr": _listen,
    "kubeconfig": lambda v: _with("kube", kubeconfig=v),
    "enable-ha": lambda v: _with("leader", enabled=BOOLS[v]),
    "leader-election-lease-duration": lambda v: _with("leader", lease_duration=parse_duration(v)),
    "leader-election-renew-deadline": lambda v: _with("leader", renew_deadline=parse_duration(v)),
    "leader-election-retry-period": lambda v: _with("leader", retry_period=parse_duration(v)),
    "max-rollouts-in-progress": lambda v: _with("safety", max_rollouts=int(v)),
    "max-rollouts-per-namespace": lambda v: _with("safety", max_rollouts_per_namespace=int(v)),
    "rollout-timeout": lambda v: _with("safety", rollout_timeout=parse_duration(v)),
    "flapping-max-wait": lambda v: _with("safety", flap_max_wait=parse_duration(v)),
    "canary-size": lambda v: _with("safety", canary_size=v),
    "health-timeout": lambda v: _with("safety", health_timeout=parse_duration(v)),
    "reload-window": lambda v: _with("safety", window=v),
    "reload-window-timezone": lambda v: _with("safety", window_timezone=v),
    "max-writes-per-second": _rate,
    "schedule-deadline": lambda v: _with("schedule", deadline_seconds=parse_duration(v)),
    "schedule-max-concurrent": lambda v: _with("schedule", max_concurrent=int(v)),
    "schedule-jitter": lambda v: _with("schedule", jitter_seconds=int(parse_duration(v))),
    "image-poll-interval": lambda v: _with("images", interval=parse_duration(v)),
    "image-poll-interval-min": lambda v: _with("images", min_interval=parse_duration(v)),
    "image-plain-http-registries": lambda v: _with("images", plain_http=tuple(_items(v))),
    "dry-run": lambda v: replace(DEFAULT, dry_run=BOOLS[v]),
    "dry-run-events": lambda v: replace(DEFAULT, dry_run_events=BOOLS[v]),
    "enable-pprof": lambda v: replace(DEFAULT, pprof=HttpSettings(port=6060)),
    # without --enable-pprof the address changes nothing
    "pprof-addr": lambda v: DEFAULT,
}


#: one valid value of each flag, other than its default (the no-op flags aside)
VALID = {
    "reload-strategy": "annotations",
    "reload-on-create": "true",
    "reload-on-delete": "1",
    "auto-reload-all": "True",
    "sync-after-restart": "true",
    "enable-csi-integration": "t",
    "is-Argo-Rollouts": "true",
    "is-argo-rollouts": "TRUE",
    "resources-to-ignore": "Secrets",
    "ignored-workload-types": "jobs, cronjobs",
    "reload-debounce": "1.5s",
    "workers": "4",
    "webhook-url": "https://hooks.example.com/x",
    "namespaces": "a, b",
    "namespaces-to-ignore": "kube-system,kube-public",
    "namespace-selector": "team:a,tier=*",
    "resource-label-selector": "app=web",
    **{flag: f"example.com/{flag}" for flag in ANNOTATION_FLAGS},
    "log-format": "json",
    "log-level": "WARN",
    "metrics-addr": "[::1]:8080",
    "kubeconfig": "/tmp/kubeconfig",
    "enable-ha": "false",  # true needs POD_NAME and POD_NAMESPACE
    "leader-election-lease-duration": "30s",
    "leader-election-renew-deadline": "5s",
    "leader-election-retry-period": "1s",
    "max-rollouts-in-progress": "5",
    "max-rollouts-per-namespace": "2",
    "rollout-timeout": "5m",
    "flapping-max-wait": "1m30s",
    "canary-size": "25%",
    "health-timeout": "2m",
    "reload-window": "Mon-Fri 09:00-17:00",
    "reload-window-timezone": "Europe/Paris",
    "max-writes-per-second": "2.5",
    "schedule-deadline": "30m",
    "schedule-max-concurrent": "3",
    "schedule-jitter": "90s",
    "image-poll-interval": "10m",
    "image-poll-interval-min": "30s",
    "image-plain-http-registries": "registry.local:5000, mirror.local",
    "dry-run": "true",
    "dry-run-events": "false",  # true needs --dry-run
    "enable-pprof": "true",
    "pprof-addr": ":7070",
}
NO_OP = {"enable-ha", "pprof-addr", "dry-run-events"}


def _names_the_flag(message: str, flag: str) -> bool:
    if flag.startswith("leader-election-"):
        return "--leader-election-" in message
    if flag in ("enable-ha",):
        return "--enable-ha" in message
    if flag == "is-argo-rollouts":  # the hidden lower-case spelling of --is-Argo-Rollouts
        return "--is-Argo-Rollouts" in message
    return f"--{flag}" in message


def test_every_flag_is_fuzzed() -> None:
    assert len(FLAGS) >= 40, FLAGS
    assert "reload-debounce" in FLAGS
    assert "auto-annotation" in FLAGS
    assert sorted(EXPECTED) == list(FLAGS), "every flag has its expected conversion"
    assert sorted(VALID) == list(FLAGS), "every flag has a valid example"


@pytest.mark.parametrize(("flag", "value"), sorted(VALID.items()))
def test_a_valid_value_of_each_flag_gives_its_setting(flag: str, value: str) -> None:
    """Every line of EXPECTED at least once (the fuzzer finds few valid values of some flags)."""
    settings = _settings([f"--{flag}={value}"], {})
    assert settings == EXPECTED[flag](value)
    assert (settings == DEFAULT) == (flag in NO_OP), "the example changes its setting"


@FAST
@given(flag=st.sampled_from(FLAGS), value=FLAG_VALUES, env=ENV)
def test_one_bad_flag_value_is_a_config_error_naming_the_flag(
    flag: str, value: str, env: dict[str, str]
) -> None:
    env = {k: v for k, v in env.items() if not k.startswith("POD_")}
    try:
        settings = _settings([f"--{flag}={value}"], env)
    except ConfigError as exc:
        message = str(exc)
    else:
        assert isinstance(settings, Settings)
        assert settings.reload.debounce_seconds >= 0
        assert settings.reload.workers >= 1
        assert settings.safety.writes_per_second >= 0
        return
    assert _names_the_flag(message, flag), (flag, value, message)


@FAST
@given(
    flags=st.dictionaries(st.sampled_from(FLAGS), FLAG_VALUES, max_size=6),
    env=ENV,
)
def test_any_combination_gives_settings_or_a_config_error(
    flags: dict[str, str], env: dict[str, str]
) -> None:
    with contextlib.suppress(ConfigError):
        _settings([f"--{f}={v}" for f, v in flags.items()], env)


@FAST
@given(flag=st.sampled_from(FLAGS), value=FLAG_VALUES)
def test_a_valid_value_gives_its_setting_and_the_cli_exits_2_for_a_bad_one(
    flag: str, value: str
) -> None:
    try:
        settings = _settings([f"--{flag}={value}"], {})
    except ConfigError:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main([f"--{flag}={value}"])
        assert code == 2
        assert err.getvalue().startswith("reloader: error: ")
    else:
        # main() would start the controller (not for a unit test): check what it would run with
        assert settings == EXPECTED[flag](value), (flag, value)


# ---------------------------------------------------------------------- the known bugs


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("workers", "²"),
        ("max-rollouts-in-progress", "²"),
        ("max-rollouts-per-namespace", "³"),
        ("schedule-max-concurrent", "0" * 4301),
        ("metrics-addr", ":⁹⁰"),
    ],
)
def test_integer_flags_with_non_decimal_digits_are_config_errors(flag: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"--{flag}"):
        _settings([f"--{flag}={value}"], {})


@pytest.mark.parametrize("value", ["nan", "inf", "1e309", "-nan"])
def test_non_finite_write_rate_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="--max-writes-per-second"):
        _settings([f"--max-writes-per-second={value}"], {})


@pytest.mark.parametrize("zone", ["America", "US", "z" * 300])
def test_timezone_flag_naming_a_directory_is_a_config_error(zone: str) -> None:
    with pytest.raises(ConfigError, match="--reload-window-timezone"):
        _settings([f"--reload-window-timezone={zone}"], {})


@pytest.mark.parametrize(
    "flag", ["reload-debounce", "rollout-timeout", "flapping-max-wait", "schedule-jitter"]
)
def test_durations_too_large_for_a_float_are_config_errors(flag: str) -> None:
    value = "9" * 400 + "ms"
    with pytest.raises(ConfigError, match=f"--{flag}"):
        _settings([f"--{flag}={value}"], {})


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("namespaces", "a\rb"),
        ("namespace-selector", "\r0"),
        ("resource-label-selector", "x" * 131_073),
        ("ignored-workload-types", "jobs\rcronjobs"),
    ],
)
def test_list_flags_that_csv_cannot_read_are_config_errors(flag: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"--{flag}"):
        _settings([f"--{flag}={value}"], {})


@pytest.mark.parametrize("flag", sorted(ANNOTATION_FLAGS))
def test_empty_annotation_flag_error_names_the_flag(flag: str) -> None:
    with pytest.raises(ConfigError, match=f"--{flag}"):
        _settings([f"--{flag}="], {})
