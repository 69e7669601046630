"""Fuzzing flag and environment values: ``settings_from_args`` either returns Settings or raises
ConfigError naming the flag (the CLI turns that into exit code 2 before anything starts); no
other exception may escape, since it would be a traceback instead of a message.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reloader.cli import ANNOTATION_FLAGS, build_parser, main, settings_from_args
from reloader.errors import ConfigError
from reloader.settings import Settings
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
def test_the_cli_exits_2_with_a_message_for_a_bad_value(flag: str, value: str) -> None:
    args = PARSER.parse_args([f"--{flag}={value}"])
    try:
        settings_from_args(args, {})
    except ConfigError:
        pass
    else:
        return  # a valid value would start the controller: not for a unit test
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([f"--{flag}={value}"])
    assert code == 2
    assert err.getvalue().startswith("reloader: error: ")


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
