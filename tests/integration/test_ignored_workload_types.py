"""--ignored-workload-types, and --sync-after-restart replaying nothing (docs/flags.md#flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reloader.core.objects import CRONJOBS, JOBS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess, start_scoped
from tests.integration.reload_support import (
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    update_configmap,
    wait_recorded,
)
from tests.integration.support import ClusterInfo, eventually

AUTO = {"reloader.stakater.com/auto": "true"}
ENV_FROM = [{"configMapRef": {"name": "cfg"}}]


def _start(cluster: ClusterInfo, tmp_path: Path, ns: str, *args: str) -> ControllerProcess:
    return start_scoped(cluster.kubeconfig, tmp_path / "r.log", ns, *args)


async def test_ignored_cronjobs_and_jobs_are_left_alone_items_106_108(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    proc = _start(cluster, tmp_path, namespace, "--ignored-workload-types=jobs,cronjobs")
    try:
        await make_configmap(kube, namespace, "cfg", {"k": "v1"})
        await resources.create(
            kube,
            CRONJOBS,
            namespace=namespace,
            body={
                "metadata": {"name": "nightly", "annotations": AUTO},
                "spec": {
                    "schedule": "0 0 1 1 *",
                    "jobTemplate": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "restartPolicy": "Never",
                                    "containers": [
                                        {"name": "t", "image": "x", "envFrom": ENV_FROM}
                                    ],
                                }
                            }
                        }
                    },
                },
            },
        )
        job = await resources.create(
            kube,
            JOBS,
            namespace=namespace,
            body={
                "metadata": {"name": "once", "annotations": AUTO},
                "spec": {
                    "suspend": True,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "t", "image": "x", "envFrom": ENV_FROM}],
                        }
                    },
                },
            },
        )
        # the canary: a Deployment using the same ConfigMap still reloads
        await make_workload(
            kube,
            namespace,
            "Deployment",
            "web",
            annotations=AUTO,
            containers=[{"name": "app", "image": "x", "envFrom": ENV_FROM}],
        )
        await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
        await update_configmap(kube, namespace, "cfg", {"k": "v2"})

        async def canary() -> dict[str, str]:
            return stakater_env(await get_workload(kube, namespace, "Deployment", "web"))

        assert await eventually(canary, timeout=15, what="the Deployment reloaded (item 107)")
        jobs = (await resources.list_page(kube, JOBS, namespace=namespace))["items"]
        assert [j["metadata"]["uid"] for j in jobs] == [job["metadata"]["uid"]]  # none new
        cronjob = await resources.get(kube, CRONJOBS, namespace=namespace, name="nightly")
        assert "reloader.stakater.com/applied-hashes" not in cronjob["metadata"].get(
            "annotations", {}
        )  # not even watched
        logged = [e.get("resource") for e in proc.logs("watch.listed")]
        assert "deployments.apps" in logged
        assert "cronjobs.batch" not in logged
        assert "jobs.batch" not in logged
    finally:
        assert proc.stop() == 0


def _ours(workload: dict[str, Any]) -> dict[str, str]:
    """The workload's annotations minus the Deployment controller's own.

    The Deployment controller adds ``deployment.kubernetes.io/revision`` when it first syncs,
    which may be after the snapshot was taken: that write is not ours.
    """
    annotations: dict[str, str] = workload["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if not k.startswith("deployment.kubernetes.io/")}


async def test_sync_after_restart_causes_no_mass_rollout(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """Reloader replays every source with --sync-after-restart (issue #1089); we roll nothing."""
    args = ("--sync-after-restart", "--reload-on-create=true", "--reload-strategy=annotations")
    proc = _start(cluster, tmp_path, namespace, *args)
    try:
        for i in range(3):
            await make_configmap(kube, namespace, f"cfg-{i}", {"k": "v1"})
            await make_workload(
                kube,
                namespace,
                "Deployment",
                f"web-{i}",
                annotations=AUTO,
                containers=[
                    {
                        "name": "app",
                        "image": "x",
                        "envFrom": [{"configMapRef": {"name": f"cfg-{i}"}}],
                    }
                ],
            )
            await wait_recorded(kube, namespace, "Deployment", f"web-{i}", f"configmap/cfg-{i}")
        before = [await get_workload(kube, namespace, "Deployment", f"web-{i}") for i in range(3)]
    finally:
        assert proc.stop() == 0
    proc = _start(cluster, tmp_path, namespace, *args)
    try:

        async def all_reconciled() -> bool:
            keys = {e.get("key") for e in proc.logs("reconcile.done")}
            return all(f"Deployment/{namespace}/web-{i}" in keys for i in range(3))

        await eventually(all_reconciled, timeout=20, what="every workload reconciled")
        after = [await get_workload(kube, namespace, "Deployment", f"web-{i}") for i in range(3)]
        for old, new in zip(before, after, strict=True):
            assert new["spec"]["template"] == old["spec"]["template"]
            assert _ours(new) == _ours(old)
        assert proc.metric("reloader_reload_executed_total", {"success": "true"}) == 0
        assert proc.metric("reloader_api_requests_total", {"verb": "PATCH"}) == 0
    finally:
        assert proc.stop() == 0
