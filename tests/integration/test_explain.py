"""``reloader explain KIND/NAME`` against the real cluster: references of every sort, the
annotation behind each decision, recorded vs current hashes, a pending reload, the schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reloader.commands.common import parse_target
from reloader.commands.explain import explain_command
from reloader.kube.client import KubeClient
from reloader.settings import KubeSettings, Settings
from tests.integration.reload_support import (
    configmap_hash,
    make_configmap,
    make_secret,
    secret_hash,
)
from tests.integration.schedule_support import SCHEDULE, TIMEZONE, create, run_cli
from tests.integration.support import ClusterInfo, deployment

APPLIED = "reloader.stakater.com/applied-hashes"
AUTO = "reloader.stakater.com/auto"


async def _setup(kube: KubeClient, ns: str) -> None:
    await make_configmap(kube, ns, "env-cm", {"k": "v1"})
    await make_configmap(kube, ns, "vol-cm", {"f": "v1"})
    await make_configmap(kube, ns, "init-cm", {"i": "v1"})
    await make_secret(kube, ns, "creds", {"p": "s1"})
    record = {
        "configmap/env-cm": configmap_hash({"k": "v1"}),  # in sync
        "configmap/vol-cm": configmap_hash({"f": "old"}),  # changed since: reload pending
    }
    body = deployment(
        "web",
        annotations={
            AUTO: "true",
            APPLIED: json.dumps(record),
            SCHEDULE: "30 4 * * *",
            TIMEZONE: "Europe/Berlin",
        },
        containers=[
            {
                "name": "app",
                "image": "registry.local/app:1",
                "env": [
                    {
                        "name": "K",
                        "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}},
                    }
                ],
                "envFrom": [{"secretRef": {"name": "creds"}}],
                "volumeMounts": [{"name": "conf", "mountPath": "/conf"}],
            }
        ],
        init_containers=[
            {
                "name": "migrate",
                "image": "registry.local/migrate:1",
                "envFrom": [{"configMapRef": {"name": "init-cm"}}],
            }
        ],
        volumes=[{"name": "conf", "configMap": {"name": "vol-cm"}}],
    )
    await create(kube, ns, "Deployment", body)


async def test_explain_json(kube: KubeClient, namespace: str, cluster: ClusterInfo) -> None:
    await _setup(kube, namespace)

    result = await run_cli(
        cluster.kubeconfig, "explain", "deployment/web", "-n", namespace, "-o", "json"
    )

    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    assert (out["kind"], out["namespace"], out["name"]) == ("Deployment", namespace, "web")
    sources = {(s["kind"], s["name"]): s for s in out["sources"]}
    assert set(sources) == {
        ("ConfigMap", "env-cm"),
        ("ConfigMap", "vol-cm"),
        ("ConfigMap", "init-cm"),
        ("Secret", "creds"),
    }
    uses = {
        key: [(u["container"], u["via"], u["init"]) for u in s["uses"]]
        for key, s in sources.items()
    }
    assert uses == {
        ("ConfigMap", "env-cm"): [("app", "env", False)],
        ("ConfigMap", "vol-cm"): [("app", "volume", False)],
        ("ConfigMap", "init-cm"): [("migrate", "envFrom", True)],
        ("Secret", "creds"): [("app", "envFrom", False)],
    }
    assert sources[("ConfigMap", "vol-cm")]["uses"][0]["volume"] == "conf"
    for source in sources.values():
        assert source["reload"] is True
        assert source["reason"] == "auto"
        assert source["annotation"] == f'{AUTO}: "true"'

    env, vol = sources[("ConfigMap", "env-cm")], sources[("ConfigMap", "vol-cm")]
    assert env["recorded_hash"] == env["current_hash"] == configmap_hash({"k": "v1"})
    assert env["status"] == "in-sync"
    assert vol["recorded_hash"] == configmap_hash({"f": "old"})
    assert vol["current_hash"] == configmap_hash({"f": "v1"})
    assert vol["status"] == "reload-pending"
    creds = sources[("Secret", "creds")]
    assert (creds["recorded_hash"], creds["current_hash"], creds["status"]) == (
        None,
        secret_hash({"p": "s1"}),
        "not-recorded",
    )
    assert out["pending"] is True
    assert out["pending_sources"] == ["configmap/vol-cm"]

    schedule = out["schedule"]
    assert (schedule["expression"], schedule["timezone"], schedule["method"]) == (
        "30 4 * * *",
        "Europe/Berlin",
        "rolling",
    )
    assert schedule["next_restart_local"][11:19] == "04:30:00"
    assert schedule["next_restart"].endswith(("02:30:00Z", "03:30:00Z"))  # CEST or CET


async def _explain(kubeconfig: Path, target: str, namespace: str) -> int:
    """``reloader explain`` in this process (its output goes to pytest's capture)."""
    kind, name = parse_target(target)
    return await explain_command(
        kind=kind,
        name=name,
        namespace=namespace,
        settings=Settings(kube=KubeSettings(kubeconfig=str(kubeconfig))),
        as_json=False,
    )


async def test_explain_text_for_humans(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    await _setup(kube, namespace)

    assert await _explain(cluster.kubeconfig, "deploy/web", namespace) == 0

    text = capsys.readouterr().out
    assert f"Deployment {namespace}/web" in text
    assert "Reload pending: yes, for configmap/vol-cm" in text
    assert "init container migrate (envFrom)" in text
    assert "container app (volume conf)" in text
    assert "container app (env)" in text
    assert "container app (envFrom)" in text
    assert f'by {AUTO}: "true"' in text
    assert "changed: a reload is pending" in text
    assert 'Schedule: "30 4 * * *" in Europe/Berlin' in text


async def test_explain_a_missing_object_exits_2_naming_it(
    namespace: str, cluster: ClusterInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _explain(cluster.kubeconfig, "deployment/nope", namespace) == 2
    assert f"Deployment {namespace}/nope not found" in capsys.readouterr().err
