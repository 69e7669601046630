"""`reloader node-agent` flags and KURED_* variables → settings; the host commands."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reloader import cli
from reloader.errors import ConfigError
from reloader.reboot.cli import build_parser, ignored_flags, settings_from_args
from reloader.reboot.host import Host, HostError
from reloader.reboot.main import preflight
from reloader.reboot.settings import HostSettings, MarkSettings, NodeAgentSettings


def _settings(*argv: str, env: dict[str, str] | None = None) -> NodeAgentSettings:
    return settings_from_args(build_parser().parse_args(list(argv)), env or {"NODE_NAME": "n1"})


def test_defaults_are_kureds_where_kured_has_them() -> None:
    s = _settings()
    assert s.node == "n1"
    assert s.period == 3600
    assert s.host.sentinel_file == "/var/run/reboot-required"
    assert s.host.reboot_command == ("/bin/systemctl", "reboot")
    assert (s.host.method, s.host.reboot_signal, s.host.nsenter) == ("command", 39, True)
    assert (s.lock.namespace, s.lock.concurrency, s.lock.release_delay) == ("kube-system", 1, 0)
    assert s.window.always
    assert (s.metrics_host, s.metrics_port) == ("0.0.0.0", 8080)  # noqa: S104 - kured's
    assert s.drain.grace_period == -1
    # deliberate differences: a lock and a drain that cannot hold the cluster forever
    assert s.lock.ttl == 1800
    assert s.drain.timeout == 1800


def test_flags() -> None:
    s = _settings(
        "--node-id=n2",
        "--period=1s",
        "--reboot-days=sat,sun",
        "--start-time=22:00",
        "--end-time=4am",
        "--time-zone=Europe/Berlin",
        "--concurrency=2",
        "--lock-ttl=0",
        "--drain-timeout=5m",
        "--drain-grace-period=10",
        "--blocking-pod-selector=app=backup",
        "--blocking-pod-selector=job",
        "--prometheus-url=http://prom:9090",
        "--alert-filter-regexp=^Watchdog$",
        "--alert-firing-only",
        "--reboot-method=signal",
        "--reboot-sentinel-command=test -f /x",
        "--notify-url=slack://a/b/c",
        "--metrics-host=127.0.0.1",
        "--metrics-port=9100",
        "--log-format=text",
    )
    assert s.node == "n2"
    assert s.window.days == {0, 6}
    assert s.window.zone_name == "Europe/Berlin"
    assert (s.lock.concurrency, s.lock.ttl, s.drain.timeout) == (2, 0, 300)
    assert s.gates.blocking_pod_selectors == ("app=backup", "job")
    assert s.gates.alert_filter is not None
    assert s.gates.alert_firing_only
    assert s.host.method == "signal"
    assert s.host.sentinel_command == ("test", "-f", "/x")
    assert s.notify.targets[0].url == "https://hooks.slack.com/services/a/b/c"
    assert (s.metrics_host, s.metrics_port) == ("127.0.0.1", 9100)
    assert s.log_format == "console"


def test_kured_env_wins_over_flags() -> None:
    env = {
        "KURED_NODE_ID": "from-env",
        "KURED_PERIOD": "5m",
        "KURED_BLOCKING_POD_SELECTOR": "app=db",
        "KURED_REBOOT_DAYS": "mon,tue",
        "KURED_FORCE_REBOOT": "true",
    }
    s = _settings("--node-id=flag", "--period=1h", env=env)
    assert s.node == "from-env"
    assert s.period == 300
    assert s.gates.blocking_pod_selectors == ("app=db",), "kured ignores it; we do not"
    assert s.window.days == {1, 2}
    assert s.drain.force_reboot


def test_kured_node_marks() -> None:
    assert _settings().marks == MarkSettings()  # all off by default, as in kured
    s = _settings(
        "--prefer-no-schedule-taint=weave.works/kured-node-reboot",
        "--annotate-nodes",
        "--pre-reboot-node-labels=state=rebooting,pool=a",
        "--pre-reboot-node-labels=example.com/drained=true",
        "--post-reboot-node-labels=state=done",
    )
    assert s.marks.taint == "weave.works/kured-node-reboot"
    assert s.marks.annotate is True
    assert s.marks.pre_labels == (
        ("state", "rebooting"),
        ("pool", "a"),
        ("example.com/drained", "true"),
    )
    assert s.marks.post_labels == (("state", "done"),)
    assert _settings("--annotate-nodes=false").marks.annotate is False


def test_kured_node_marks_from_env() -> None:
    env = {
        "NODE_NAME": "n1",
        "KURED_PREFER_NO_SCHEDULE_TAINT": "reboot-pending",
        "KURED_ANNOTATE_NODES": "true",
        "KURED_PRE_REBOOT_NODE_LABELS": "a=1,b=2",
        "KURED_POST_REBOOT_NODE_LABELS": "a=3",
    }
    s = _settings("--post-reboot-node-labels=ignored=1", env=env)
    assert s.marks == MarkSettings(
        taint="reboot-pending",
        annotate=True,
        pre_labels=(("a", "1"), ("b", "2")),
        post_labels=(("a", "3"),),
    )


def test_slack_hook_url_is_used_without_notify_url() -> None:
    s = _settings("--slack-hook-url='https://hooks.slack.com/services/A/B/C'")
    assert s.notify.targets[0].kind == "slack"


def test_kured_flags_without_effect_are_reported() -> None:
    args = build_parser().parse_args(["--ds-name=kured", "--slack-channel=x"])
    assert ignored_flags(args, {}) == ["--ds-name", "--slack-channel"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--reboot-days=funday"], "invalid weekday", id="days"),
        pytest.param(["--start-time=25:00"], "invalid time", id="start"),
        pytest.param(["--time-zone=Nowhere/Land"], "unknown time zone", id="zone"),
        pytest.param(["--concurrency=0"], "--concurrency", id="concurrency"),
        pytest.param(["--period=0s"], "--period", id="period"),
        pytest.param(["--lock-ttl=soon"], "--lock-ttl", id="ttl"),
        pytest.param(["--reboot-method=kexec"], "--reboot-method", id="method"),
        pytest.param(["--reboot-signal=0"], "--reboot-signal", id="signal"),
        pytest.param(["--reboot-command="], "--reboot-command", id="empty-command"),
        pytest.param(["--notify-url=smtp://x"], "--notify-url", id="notify"),
        pytest.param(["--alert-filter-regexp=("], "--alert-filter-regexp", id="regexp"),
        pytest.param(["--prometheus-url=prom:9090"], "--prometheus-url", id="prom-url"),
        pytest.param(["--force-reboot=maybe"], "--force-reboot", id="bool"),
        pytest.param(["--metrics-addr=nowhere"], "--metrics-addr", id="listen"),
        pytest.param(["--annotate-nodes=sometimes"], "--annotate-nodes", id="annotate"),
        pytest.param(
            ["--pre-reboot-node-labels=maintenance"], "--pre-reboot-node-labels", id="pre-label"
        ),
        pytest.param(
            ["--post-reboot-node-labels=a=b,bad key=x"], "--post-reboot-node-labels", id="post"
        ),
        pytest.param(
            ["--prefer-no-schedule-taint=no good"], "--prefer-no-schedule-taint", id="taint"
        ),
        pytest.param(["--lock-name=Bad_Name"], "--lock-name", id="lock-name"),
    ],
)
def test_bad_values_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(*argv)


def test_node_name_is_required(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.delenv("KURED_NODE_ID", raising=False)
    assert cli.main(["node-agent"]) == 2
    assert "--node-id" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ host


async def test_sentinel_file(tmp_path: Path) -> None:
    sentinel = tmp_path / "reboot-required"
    host = Host(HostSettings(sentinel_file=str(sentinel), nsenter=False))
    assert not await host.reboot_required()
    sentinel.touch()
    assert await host.reboot_required()


@pytest.mark.parametrize(("code", "required"), [(0, True), (1, False), (3, False)])
async def test_sentinel_command_exit_codes(code: int, required: bool) -> None:
    host = Host(HostSettings(sentinel_command=("sh", "-c", f"exit {code}"), nsenter=False))
    assert await host.reboot_required() is required


async def test_sentinel_command_that_cannot_start_is_an_error() -> None:
    host = Host(HostSettings(sentinel_command=("/nonexistent/check",), nsenter=False))
    with pytest.raises(HostError, match="could not run"):
        await host.reboot_required()


def test_host_commands_enter_the_hosts_namespaces() -> None:
    host = Host(HostSettings(sentinel_command=("needs-restarting", "-r")))
    assert host.sentinel_command() == [
        "nsenter",
        "-m/proc/1/ns/mnt",
        "--",
        "needs-restarting",
        "-r",
    ]
    assert host.reboot_command()[:9] == ["nsenter", "-m", "-u", "-i", "-n", "-p", "-t", "1", "--"]
    assert host.reboot_command()[9:] == ["/bin/systemctl", "reboot"]


async def test_failed_reboot_command_raises(tmp_path: Path) -> None:
    host = Host(HostSettings(reboot_command=("sh", "-c", "echo no >&2; exit 5"), nsenter=False))
    with pytest.raises(HostError, match="exited with 5"):
        await host.reboot()
    done = tmp_path / "done"
    await Host(HostSettings(reboot_command=("touch", str(done)), nsenter=False)).reboot()
    assert done.exists()


# ------------------------------------------------------------------------------- preflight


def _fake_nsenter(directory: Path, script: str) -> None:
    """An ``nsenter`` first on PATH that runs ``script`` (sh) instead of entering anything."""
    directory.mkdir(exist_ok=True)
    fake = directory / "nsenter"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)


class _Events:
    def __init__(self) -> None:
        self.recorded: list[dict[str, str]] = []

    async def record(self, **kw: str) -> None:
        self.recorded.append(kw)


NO_PRIVILEGES = (
    "echo \"nsenter: reassociate to namespace 'ns/mnt' failed: Operation not permitted\" >&2; "
    "exit 1"
)


def test_preflight_probes_only_what_goes_through_nsenter() -> None:
    sentinel = HostSettings(sentinel_command=("needs-restarting", "-r"))
    assert Host(sentinel).preflight_commands() == [
        ("--reboot-sentinel-command", ["nsenter", "-m/proc/1/ns/mnt", "--", "true"]),
        ("--reboot-command", ["nsenter", "-m", "-u", "-i", "-n", "-p", "-t", "1", "--", "true"]),
    ]
    signal = HostSettings(sentinel_command=("x",), method="signal")
    assert [flag for flag, _ in Host(signal).preflight_commands()] == ["--reboot-sentinel-command"]
    assert Host(HostSettings(method="signal")).preflight_commands() == []
    assert Host(HostSettings(sentinel_command=("x",), nsenter=False)).preflight_commands() == []


async def test_nsenter_without_privileges_fails_the_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nsenter that cannot enter PID 1's mount namespace exits 1, which the sentinel command
    would read as "no reboot needed" forever: the agent refuses to start instead."""
    _fake_nsenter(tmp_path / "bin", NO_PRIVILEGES)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    settings = NodeAgentSettings(
        node="n1", host=HostSettings(sentinel_command=("test", "-f", "/x"), method="signal")
    )
    events = _Events()
    with pytest.raises(ConfigError, match="--reboot-sentinel-command") as caught:
        await preflight(settings, Host(settings.host), events)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "Operation not permitted" in message
    assert "hostPID: true" in message
    assert "--nsenter=false" in message
    assert events.recorded[0]["reason"] == "RebootPreflightFailed"
    assert events.recorded[0]["type_"] == "Warning"
    assert events.recorded[0]["node"] == "n1"
    # the sentinel check itself no longer reads nsenter's failure as "no reboot needed"
    with pytest.raises(HostError, match="nsenter failed"):
        await Host(settings.host).reboot_required()


async def test_preflight_passes_when_nsenter_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_nsenter(tmp_path / "bin", 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    settings = NodeAgentSettings(node="n1", host=HostSettings(sentinel_command=("false",)))
    events = _Events()
    await preflight(settings, Host(settings.host), events)  # type: ignore[arg-type]
    assert events.recorded == []
    assert await Host(settings.host).reboot_required() is False, "exit 1 of the command: no"


async def test_preflight_without_nsenter_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nsenter anywhere
    settings = NodeAgentSettings(node="n1", host=HostSettings(method="command"))
    with pytest.raises(ConfigError, match=r"--reboot-command .*could not run"):
        await preflight(settings, Host(settings.host), _Events())  # type: ignore[arg-type]
