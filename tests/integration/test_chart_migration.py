"""Moving from stakater's chart to this one on the real cluster, as docs/migration.md says.

stakater's chart 2.2.16 comes from Reloader v1.4.22's Go module (`go mod download`, cached in the
Go module cache), is installed with helm, and the same release is upgraded in place to this chart
with the same values file. Its Deployment sets no strategy, so the API server defaulted it to
RollingUpdate with a rollingUpdate block; this chart's single replica uses Recreate, which may
not have one. helm's three-way merge removes the block (the patch of `strategy` keeps only the
keys it names), so the upgrade works in place; `helm rollback` goes back. A server-side apply
(GitOps tools) never removes a field nobody applied, so it is refused with
`spec.strategy.rollingUpdate: Forbidden` until the one-time patch the migration page gives.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from reloader.core.objects import DEPLOYMENTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.support import ClusterInfo, eventually
from tests.integration.test_chart_install import CHART, _run, helm_command

STAKATER_MODULE = "github.com/stakater/Reloader@v1.4.22"
#: a values file as a Reloader user has it: kept unchanged across the move
USER_VALUES = {"reloader": {"logLevel": "debug", "reloadOnCreate": True, "ignoreJobs": True}}
#: the one-time patch of docs/migration.md before a server-side apply of this chart
STRATEGY_PATCH = (
    '[{"op":"remove","path":"/spec/strategy/rollingUpdate"},'
    '{"op":"replace","path":"/spec/strategy/type","value":"Recreate"}]'
)


def stakater_chart(tmp_path: Path) -> Path:
    """stakater's chart as shipped in Reloader v1.4.22 (the Go module proxy serves it)."""
    work = tmp_path / "gomod"
    work.mkdir()
    out = subprocess.run(
        ["go", "mod", "download", "-json", STAKATER_MODULE],
        check=False,
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    chart = Path(json.loads(out.stdout)["Dir"]) / "deployments/kubernetes/chart/reloader"
    assert "version: 2.2.16" in (chart / "Chart.yaml").read_text()
    return chart


def helm_ok(helm: list[str], tmp_path: Path, *args: str) -> str:
    out = _run([*helm, *args], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


async def get_deployment(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return dict(await resources.get(kube, DEPLOYMENTS, namespace=namespace, name=name))


async def available(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        dep = await get_deployment(kube, namespace, name)
        status = dep.get("status") or {}
        done = status.get("observedGeneration") == dep["metadata"]["generation"]
        up = status.get("updatedReplicas") == status.get("availableReplicas") == 1
        return dep if done and up and status.get("replicas") == 1 else None

    dep = await eventually(check, timeout=30, what=f"Deployment {namespace}/{name} rolled out")
    assert dep is not None
    return dep


@pytest.mark.timeout(150)  # go's module cache, three helm runs, three rollouts (kwok)
async def test_helm_upgrade_in_place_from_stakaters_chart_and_back(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    helm = helm_command(cluster)
    theirs = await anyio.to_thread.run_sync(stakater_chart, tmp_path)
    values = tmp_path / "my-reloader-values.yaml"
    values.write_text(yaml.safe_dump(USER_VALUES))
    release = f"r{namespace[-8:]}"  # unique: the ClusterRole's name is cluster-wide

    def helm_run(*args: str) -> str:
        return helm_ok(helm, tmp_path, *args, "-n", namespace)

    await anyio.to_thread.run_sync(helm_run, "install", release, str(theirs), "-f", str(values))
    try:
        await _upgrade_and_back(kube, helm_run, theirs, values, namespace, release)
    finally:
        await anyio.to_thread.run_sync(helm_run, "uninstall", release, "--wait")


async def _upgrade_and_back(
    kube: KubeClient,
    helm_run: Callable[..., str],
    theirs: Path,
    values: Path,
    namespace: str,
    release: str,
) -> None:
    name = f"{release}-reloader"
    before = await available(kube, namespace, name)
    assert before["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "rollingUpdate" in before["spec"]["strategy"]  # the API server's default

    await anyio.to_thread.run_sync(helm_run, "upgrade", release, str(CHART), "-f", str(values))
    after = await available(kube, namespace, name)
    # the same object, updated in place: same UID, same (immutable) selector
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["selector"] == before["spec"]["selector"]
    assert after["spec"]["strategy"] == {"type": "Recreate"}
    pod = after["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["reloader"]
    assert pod["containers"][0]["args"] == [
        "--log-level=debug",
        "--ignored-workload-types=jobs",
        "--reload-on-create=true",
    ]
    history = json.loads(await anyio.to_thread.run_sync(helm_run, "history", release, "-o=json"))
    assert [(h["chart"], h["status"]) for h in history] == [
        ("reloader-2.2.16", "superseded"),
        ("reloader-0.1.0", "deployed"),
    ]

    # and back, should the move have to wait
    await anyio.to_thread.run_sync(helm_run, "rollback", release, "1")
    back = await available(kube, namespace, name)
    assert back["metadata"]["uid"] == before["metadata"]["uid"]
    assert back["spec"]["strategy"]["type"] == "RollingUpdate"
    assert [c["name"] for c in back["spec"]["template"]["spec"]["containers"]] == [name]


@pytest.mark.timeout(120)
async def test_server_side_apply_needs_the_one_time_strategy_patch(
    kube: KubeClient, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    """A GitOps tool applying the rendered manifests server-side, as the same field manager."""
    helm = helm_command(cluster)
    kubectl = [str(Path(helm[0]).parent / "kubectl"), helm[1]]
    theirs = await anyio.to_thread.run_sync(stakater_chart, tmp_path)
    name = "rel-reloader"

    def deployment_of(chart: Path) -> Path:
        """The chart's Deployment and its ServiceAccount (what the pods need)."""
        rendered = helm_ok(
            helm,
            tmp_path,
            "template",
            "rel",
            str(chart),
            "-n",
            namespace,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/deployment.yaml",
        )
        path = tmp_path / f"deployment-{chart.parent.name}.yaml"
        path.write_text(rendered)
        return path

    def apply(path: Path) -> subprocess.CompletedProcess[str]:
        cmd = [*kubectl, "apply", "--server-side", "--field-manager=gitops", "-f", str(path)]
        return _run(cmd, tmp_path)

    def patch() -> subprocess.CompletedProcess[str]:
        cmd = [*kubectl, "-n", namespace, "patch", "deployment", name, "--type=json"]
        return _run([*cmd, "-p", STRATEGY_PATCH], tmp_path)

    out = await anyio.to_thread.run_sync(apply, deployment_of(theirs))
    assert out.returncode == 0, out.stderr
    before = await available(kube, namespace, name)

    ours = deployment_of(CHART)
    out = await anyio.to_thread.run_sync(apply, ours)
    assert out.returncode != 0
    assert "spec.strategy.rollingUpdate: Forbidden" in out.stderr

    out = await anyio.to_thread.run_sync(patch)
    assert out.returncode == 0, out.stderr
    out = await anyio.to_thread.run_sync(apply, ours)
    assert out.returncode == 0, out.stderr
    after = await available(kube, namespace, name)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["spec"]["strategy"] == {"type": "Recreate"}
    # the same field manager applied stakater's container: it goes, only reloader's is left
    assert [c["name"] for c in after["spec"]["template"]["spec"]["containers"]] == ["reloader"]
