"""The restart and explain subcommands: input handling; and flags of run (schedules, options)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from reloader.cli import SUBCOMMANDS, build_parser, main, settings_from_args
from reloader.cli.explain import build_parser as explain_parser
from reloader.cli.explain import explain_settings
from reloader.commands.common import UsageError, parse_target
from reloader.core.annotations import SourceKind
from reloader.errors import ConfigError
from reloader.settings import Settings, Strategy


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        pytest.param("deployment/web", "Deployment", "web", id="singular"),
        pytest.param("Deployments/web", "Deployment", "web", id="plural-any-case"),
        pytest.param("deploy/web", "Deployment", "web", id="short"),
        pytest.param("deployments.apps/web", "Deployment", "web", id="with-group"),
        pytest.param("ds/agent", "DaemonSet", "agent", id="daemonset"),
        pytest.param("sts/db", "StatefulSet", "db", id="statefulset"),
        pytest.param("cj/nightly", "CronJob", "nightly", id="cronjob"),
        pytest.param("job/once", "Job", "once", id="job"),
        pytest.param("rollout/canary", "Rollout", "canary", id="rollout"),
    ],
)
def test_parse_target(text: str, kind: str, name: str) -> None:
    parsed_kind, parsed_name = parse_target(text)
    assert (parsed_kind.kind, parsed_name) == (kind, name)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("web", "expected KIND/NAME", id="no-kind"),
        pytest.param("deployment/", "expected KIND/NAME", id="no-name"),
        pytest.param("a/b/c", "expected KIND/NAME", id="too-many-parts"),
        pytest.param("pod/web", "unsupported kind 'pod'", id="unsupported-kind"),
    ],
)
def test_parse_target_rejects(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_target(text)


@pytest.mark.parametrize("command", ["restart", "explain"])
def test_bad_kind_exits_2_naming_it(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "pods/web", "-n", "x"]) == 2
    assert "unsupported kind 'pods'" in capsys.readouterr().err


def test_bad_timeout_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restart", "deploy/web", "--timeout", "soon"]) == 2
    assert "invalid duration" in capsys.readouterr().err


def _settings(*argv: str) -> Settings:
    return settings_from_args(build_parser().parse_args(list(argv)), {})


def test_schedule_flag_defaults() -> None:
    schedule = _settings().schedule
    assert (schedule.deadline_seconds, schedule.max_concurrent, schedule.jitter_seconds) == (
        3600.0,
        0,
        0,
    )


def test_schedule_flags() -> None:
    schedule = _settings(
        "--schedule-deadline=30m", "--schedule-max-concurrent=2", "--schedule-jitter=5m"
    ).schedule
    assert (schedule.deadline_seconds, schedule.max_concurrent, schedule.jitter_seconds) == (
        1800.0,
        2,
        300,
    )


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        pytest.param("--schedule-deadline=0s", "--schedule-deadline", id="zero-deadline"),
        pytest.param("--schedule-deadline=x", "--schedule-deadline", id="bad-deadline"),
        pytest.param("--schedule-max-concurrent=-1", "--schedule-max-concurrent", id="negative"),
        pytest.param("--schedule-jitter=-5s", "--schedule-jitter", id="negative-jitter"),
    ],
)
def test_bad_schedule_flags_name_the_flag(flag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(flag)


def test_options_are_enum_members_equal_to_their_flag_values() -> None:
    reload = _settings("--reload-strategy=annotations", "--resources-to-ignore=Secrets").reload
    assert reload.strategy is Strategy.ANNOTATIONS
    assert f"{reload.strategy}" == "annotations"  # logs, Events and labels see the same string
    assert reload.resources_to_ignore == frozenset({SourceKind.SECRET})
    defaults = _settings().reload
    assert (defaults.strategy, defaults.resources_to_ignore) == (Strategy.ENV_VARS, frozenset())


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        pytest.param("--reload-strategy=Annotations",
                     "--reload-strategy: invalid value 'Annotations' (use env-vars or annotations)",
                     id="strategy-case"),
        pytest.param("--resources-to-ignore=pods",
                     "--resources-to-ignore: invalid value 'pods' (use configmaps or secrets)",
                     id="resource"),
        pytest.param("--resources-to-ignore=configmaps,secrets", "cannot both be ignored",
                     id="both"),
    ],
)  # fmt: skip
def test_bad_options_name_the_flag_and_the_values(flag: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _settings(flag)


# ---------------------------------------------------------------------- explain's flags

DECISION_FLAGS = [
    "--reload-strategy=annotations",
    "--reload-on-create=true",
    "--reload-on-delete",
    "--auto-reload-all=true",
    "--resources-to-ignore=secrets",
    "--ignored-workload-types=jobs,cronjobs",
    "--namespaces-to-ignore=kube-system",
    "--namespace-selector=team:web",
    "--resource-label-selector=reload=yes",
    "--reload-window=Mon-Fri 09:00-17:00",
    "--reload-window-timezone=Europe/Berlin",
    "--max-rollouts-in-progress=3",
    "--flapping-max-wait=30s",
    "--webhook-url=http://hook.local/",
    "--enable-csi-integration=true",
    "--is-Argo-Rollouts=true",
    "--auto-annotation=example.com/auto",
    "--schedule-deadline=30m",
    "--schedule-jitter=1m",
]


def test_explain_builds_the_settings_run_builds_from_the_same_flags() -> None:
    explained = explain_settings(
        explain_parser().parse_args(["deploy/web", "-n", "shop", *DECISION_FLAGS]), {}
    )
    assert explained == _settings(*DECISION_FLAGS)
    assert explained != Settings()


def test_explain_names_a_bad_flag_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "deploy/web", "--reload-strategy=rolling"]) == 2
    assert "--reload-strategy: invalid value 'rolling'" in capsys.readouterr().err


def test_explain_takes_the_controllers_other_flags_as_run_does_and_ignores_them() -> None:
    """A Deployment's args pasted as they are: the flags that change no decision are parsed
    and ignored (--enable-ha needs no POD_NAME here); an unknown flag is still an error."""
    other = ["--workers=4", "--enable-ha=true", "--log-level", "debug", "--metrics-addr=:9191"]
    args = explain_parser().parse_args(["deploy/web", *other, "--auto-reload-all=true"])
    assert explain_settings(args, {}) == _settings("--auto-reload-all=true")
    with pytest.raises(SystemExit) as exited:
        explain_parser().parse_args(["deploy/web", "--no-such-flag"])
    assert exited.value.code == 2


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("run (default)", "restart", "explain", "node-agent"):
        assert f"\n  {name} " in out, name


def test_every_subcommand_runs_its_own_main(capsys: pytest.CaptureFixture[str]) -> None:
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0
        assert f"usage: reloader {name}" in capsys.readouterr().out


def test_kubectl_plugin_entry_point_is_the_same_command() -> None:
    scripts = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "scripts"
    ]
    assert scripts["kubectl-reloader"] == scripts["reloader"] == "reloader.cli:main"
