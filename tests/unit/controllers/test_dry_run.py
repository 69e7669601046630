"""``--dry-run``: its settings, and the reload controller deciding as usual and writing nothing,
logging and counting each change once, against the fake API server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from structlog.testing import capture_logs

from reloader.cli import build_parser, settings_from_args
from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, ObjectKey
from reloader.errors import ConfigError
from reloader.settings import ReloadSettings, Settings
from reloader.workloads.dry_run import Once
from tests.unit.controllers.builders import NS, configmap, deployment, env_of
from tests.unit.controllers.harness import Harness

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from reloader.kube.client import KubeClient
    from reloader.runtime.clock import FakeClock
    from tests.unit.controllers.fake_cluster import FakeCluster

AUTO = {"reloader.stakater.com/auto": "true"}
ENV = "STAKATER_CFG_CONFIGMAP"


def _settings(*args: str, **env: str) -> Settings:
    return settings_from_args(build_parser().parse_args(list(args)), env)


@pytest.mark.parametrize(
    ("args", "env", "dry_run", "events"),
    [
        ((), {}, False, False),
        (("--dry-run",), {}, True, False),
        (("--dry-run", "--dry-run-events"), {}, True, True),
        ((), {"RELOADER_DRY_RUN": "true"}, True, False),
        ((), {"RELOADER_DRY_RUN": "false"}, False, False),
        (("--dry-run=true",), {"RELOADER_DRY_RUN": "false"}, True, False),  # either turns it on
        (("--dry-run-events",), {"RELOADER_DRY_RUN": "true"}, True, True),
    ],
)
def test_dry_run_from_the_flags_and_the_environment(
    args: tuple[str, ...], env: dict[str, str], dry_run: bool, events: bool
) -> None:
    settings = _settings(*args, **env)
    assert (settings.dry_run, settings.dry_run_events) == (dry_run, events)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--dry-run-events",), {}, "--dry-run-events: only with --dry-run"),
        ((), {"RELOADER_DRY_RUN": "perhaps"}, "RELOADER_DRY_RUN: invalid boolean 'perhaps'"),
        (("--dry-run=perhaps",), {}, "--dry-run: invalid boolean 'perhaps'"),
    ],
)
def test_bad_dry_run_settings_name_the_flag(
    args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings(*args, **env)


def test_once_reports_a_content_once_per_key_until_it_changes() -> None:
    once, a, b = Once(), ObjectKey("Deployment", NS, "a"), ObjectKey("Deployment", NS, "b")
    assert once.first(a, ["h1"])
    assert not once.first(a, ["h1"])
    assert once.first(b, ["h1"]), "per key"
    assert once.first(a, ["h2"])
    assert once.first(a, ["h1"]), "a change back is a change"
    once.forget(a)
    assert once.first(a, ["h1"])


def _setup(cluster: FakeCluster) -> None:
    cluster.put(CONFIGMAPS, configmap("cfg", {"k": "1"}))
    cluster.put(DEPLOYMENTS, deployment("a", configmap="cfg", annotations=AUTO))


def _patches(cluster: FakeCluster) -> int:
    return cluster.writes(DEPLOYMENTS, NS, "a")


def _would(
    logs: list[MutableMapping[str, Any]], event: str = "would_reload"
) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == event]


@pytest.mark.parametrize("events", [False, True], ids=["no-events", "dry-run-events"])
async def test_a_dry_run_decides_logs_and_counts_each_change_once_and_writes_nothing(
    cluster: FakeCluster, client: KubeClient, clock: FakeClock, events: bool
) -> None:
    _setup(cluster)
    no_debounce = ReloadSettings(debounce_seconds=0)
    real = Harness(cluster=cluster, client=client, clock=clock, settings=Settings(no_debounce))
    async with real.running():
        await real.settle()  # the record: the baseline a change is compared with
    written = _patches(cluster)
    dry_settings = Settings(no_debounce, dry_run=True, dry_run_events=events)
    dry = Harness(cluster=cluster, client=client, clock=clock, settings=dry_settings)
    with capture_logs() as logs:
        async with dry.running():
            await dry.settle()
            assert _would(logs) == [], "in sync: nothing to write"
            cluster.modify(CONFIGMAPS, NS, "cfg", lambda cm: cm.update(data={"k": "2"}))
            await dry.settle()
            [would] = _would(logs)
            # the workload changes, the source does not: decided again, not logged again
            explicit = {"configmap.reloader.stakater.com/reload": "cfg"}
            cluster.modify(
                DEPLOYMENTS, NS, "a", lambda d: d["metadata"]["annotations"].update(explicit)
            )
            await dry.settle()
            assert len(dry.results(ObjectKey("Deployment", NS, "a"))) == 3
    assert _patches(cluster) == written, "no patch sent"
    assert ENV not in env_of(cluster.get(DEPLOYMENTS, NS, "a"))
    assert len(_would(logs)) == 1
    assert (would["kind"], would["name"], would["method"]) == ("Deployment", "a", "template-patch")
    env = would["patch"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == [ENV]
    assert dry.sample("reloader_reloads_total", workload_kind="Deployment", result="success",
                      dry_run="true") == 1  # fmt: skip
    assert dry.sample("reloader_reload_executed_total", success="true") == 0
    reasons = [e["reason"] for e in cluster.events(name="a")]
    assert reasons == (["DryRunReloaded"] if events else [])
