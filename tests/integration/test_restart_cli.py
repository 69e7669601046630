"""``reloader restart KIND/NAME`` against the real cluster, for every kind, and its exit codes.

No controller runs: the command itself restarts the workload and waits for the rollout. One test
runs the real command line (``python -m reloader restart``); the others call the command's
coroutine in this process, which is the same code without the interpreter start-up.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.schedule_support import (
    REPLICASETS,
    RESTARTED_AT,
    create,
    get,
    manifest,
    owned_jobs,
    restart_now,
    run_cli,
    template_annotations,
)
from tests.integration.support import ClusterInfo, eventually


async def _owned_replicasets(kube: KubeClient, ns: str, name: str) -> list[dict[str, Any]]:
    page = await resources.list_page(kube, REPLICASETS, namespace=ns)
    return [
        rs
        for rs in page["items"]
        if any(o.get("name") == name for o in rs["metadata"].get("ownerReferences") or [])
    ]


async def test_command_line_restarts_a_deployment_and_waits(
    kube: KubeClient, namespace: str, cluster: ClusterInfo
) -> None:
    await create(kube, namespace, "Deployment", manifest("Deployment", "web", {}, replicas=2))

    result = await run_cli(cluster.kubeconfig, "restart", "deployment/web", "-n", namespace)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "deployment.apps/web restarted"
    assert lines[-1] == "deployment 'web' successfully rolled out"
    obj = await get(kube, namespace, "Deployment", "web")
    assert RESTARTED_AT in template_annotations(obj)
    status = obj["status"]
    assert status["observedGeneration"] >= obj["metadata"]["generation"]
    assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"] == 2
    assert len(await _owned_replicasets(kube, namespace, "web")) == 2


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        pytest.param("StatefulSet", "sts/web", id="statefulset"),
        pytest.param("DaemonSet", "ds/web", id="daemonset"),
    ],
)
async def test_rolling_restart_waits_for_the_rollout(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    target: str,
) -> None:
    extra = {} if kind == "DaemonSet" else {"replicas": 2}
    await create(kube, namespace, kind, manifest(kind, "web", {}, **extra))

    assert await restart_now(cluster.kubeconfig, target, namespace) == 0

    assert capsys.readouterr().out.startswith(f"{kind.lower()}.apps/web restarted")
    obj = await get(kube, namespace, kind, "web")
    assert RESTARTED_AT in template_annotations(obj)
    status = obj["status"]
    assert status["observedGeneration"] >= obj["metadata"]["generation"]  # rolled out
    if kind == "StatefulSet":
        assert status["currentRevision"] == status["updateRevision"]
        assert status["readyReplicas"] == 2
    else:
        assert status["updatedNumberScheduled"] == status["desiredNumberScheduled"] == 3
        assert status["numberAvailable"] == 3


async def test_cronjob_restart_creates_a_job_now(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    await create(kube, namespace, "CronJob", manifest("CronJob", "nightly", {}))
    assert await owned_jobs(kube, namespace, "nightly") == []

    assert await restart_now(cluster.kubeconfig, "cronjob/nightly", namespace) == 0

    jobs = await owned_jobs(kube, namespace, "nightly")
    assert len(jobs) == 1
    assert jobs[0]["metadata"]["name"] in capsys.readouterr().out
    assert jobs[0]["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"


async def test_job_restart_recreates_it(
    kube: KubeClient, namespace: str, cluster: ClusterInfo
) -> None:
    created = await create(kube, namespace, "Job", manifest("Job", "once", {}))
    # restarted at once, while the Job controller may still be creating the old Job's pod: the
    # new Job must get a pod all the same (restarts.JOB_SETTLE_S); --wait waits for it
    assert await restart_now(cluster.kubeconfig, "job/once", namespace) == 0

    job = await get(kube, namespace, "Job", "once")
    assert job["metadata"]["uid"] != created["metadata"]["uid"]


async def test_no_wait_returns_after_the_write(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    await create(kube, namespace, "Deployment", manifest("Deployment", "web", {}))
    assert await restart_now(cluster.kubeconfig, "deploy/web", namespace, wait=False) == 0
    assert capsys.readouterr().out.strip() == "deployment.apps/web restarted"
    obj = await get(kube, namespace, "Deployment", "web")
    assert RESTARTED_AT in template_annotations(obj)


async def test_a_missing_object_exits_2_naming_it(
    namespace: str, cluster: ClusterInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await restart_now(cluster.kubeconfig, "deployment/nope", namespace) == 2
    assert f"Deployment {namespace}/nope not found" in capsys.readouterr().err


async def test_a_rollout_that_cannot_finish_times_out_with_1(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    stuck = manifest("Deployment", "stuck", {})
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"reloader.test/none": "x"}
    await create(kube, namespace, "Deployment", stuck)
    assert await restart_now(cluster.kubeconfig, "deploy/stuck", namespace, limit=3.0) == 1
    output = capsys.readouterr()
    assert "timed out after 3s" in output.err
    assert "Waiting for deployment.apps/stuck" in output.out


@pytest.mark.parametrize(
    ("kind", "target", "patched"),
    [
        pytest.param("Deployment", "deployment/web", True, id="deployment"),
        pytest.param("Job", "job/web", False, id="job"),
    ],
)
async def test_dry_run_prints_the_patch_and_writes_nothing(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, kind: str, target: str, patched: bool
) -> None:
    body = manifest(kind, "web", {})
    if kind == "Job":
        body["spec"]["suspend"] = True  # its status then stays as it is
    created = await create(kube, namespace, kind, body)

    async def settled() -> str | None:  # the controllers are done with the object's status
        obj = await get(kube, namespace, kind, "web")
        status = obj.get("status") or {}
        if kind == "Job":
            done = any(c["type"] == "Suspended" for c in status.get("conditions") or [])
        else:
            replicas = obj["spec"]["replicas"]
            done = status.get("observedGeneration") == obj["metadata"]["generation"] and (
                status.get("availableReplicas") == status.get("updatedReplicas") == replicas
            )
        return str(obj["metadata"]["resourceVersion"]) if done else None

    before = await eventually(settled, timeout=30, what=f"{kind} web to settle")

    result = await run_cli(cluster.kubeconfig, "restart", target, "-n", namespace, "--dry-run")

    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.endswith("; not sent (dry run):"), first
    patch = json.loads("\n".join(rest))
    assert (RESTARTED_AT in json.dumps(patch)) == patched
    after = await get(kube, namespace, kind, "web")
    assert after["metadata"]["uid"] == created["metadata"]["uid"], "not recreated"
    assert after["metadata"]["resourceVersion"] == before
