"""CronJobs spawn a Job, Jobs are recreated (docs/compatibility.md#workload-kinds)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from reloader.core.objects import CRONJOBS, JOBS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    APPLIED,
    make_configmap,
    make_secret,
    update_configmap,
    update_secret,
)
from tests.integration.support import eventually

CONTROLLER_ARGS = ["--reload-strategy=env-vars"]

AUTO = {"reloader.stakater.com/auto": "true"}


def _pod_spec(env_from: list[dict[str, Any]] | None = None, env: Any = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "task", "image": "registry.local/task:1"}
    if env_from:
        container["envFrom"] = env_from
    if env:
        container["env"] = env
    return {"restartPolicy": "Never", "containers": [container]}


def _cronjob(name: str, annotations: dict[str, str], pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "schedule": "0 0 1 1 *",
            "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {"template": {"spec": pod_spec}},
            },
        },
    }


def _job(name: str, annotations: dict[str, str], pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"suspend": True, "template": {"spec": pod_spec}},
    }


async def _recorded(kube: KubeClient, rt: Any, ns: str, name: str, key: str) -> None:
    async def probe() -> bool:
        obj = await resources.get(kube, rt, namespace=ns, name=name)
        return key in json.loads(obj["metadata"].get("annotations", {}).get(APPLIED, "{}"))

    await eventually(probe, timeout=30, what=f"{name} records {key}")


async def _jobs_owned_by(kube: KubeClient, ns: str, cronjob: str) -> list[dict[str, Any]]:
    page = await resources.list_page(kube, JOBS, namespace=ns)
    return [
        j
        for j in page["items"]
        if any(o.get("name") == cronjob for o in j["metadata"].get("ownerReferences") or [])
    ]


@pytest.mark.parametrize(
    ("source", "annotations"),
    [
        pytest.param(
            "configmap",
            {"configmap.reloader.stakater.com/reload": "cfg"},
            id="configmap-explicit-item-8",
        ),
        pytest.param(
            "secret", {"secret.reloader.stakater.com/reload": "cfg"}, id="secret-explicit-item-9"
        ),
        pytest.param("configmap", AUTO, id="configmap-auto-item-10"),
    ],
)
async def test_cronjob_change_creates_one_job_from_the_template(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    source: str,
    annotations: dict[str, str],
) -> None:
    ref = (
        {"configMapRef": {"name": "cfg"}}
        if source == "configmap"
        else {"secretRef": {"name": "cfg"}}
    )
    make, update = (
        (make_configmap, update_configmap)
        if source == "configmap"
        else (make_secret, update_secret)
    )
    await make(kube, namespace, "cfg", {"k": "v1"})
    await resources.create(
        kube, CRONJOBS, namespace=namespace, body=_cronjob("nightly", annotations, _pod_spec([ref]))
    )
    await _recorded(kube, CRONJOBS, namespace, "nightly", f"{source}/cfg")
    assert await _jobs_owned_by(kube, namespace, "nightly") == []

    await update(kube, namespace, "cfg", {"k": "v2"})

    jobs = await eventually(
        lambda: _jobs_owned_by(kube, namespace, "nightly"),
        timeout=15,
        what="a Job owned by the CronJob",
    )
    assert len(jobs) == 1
    job = jobs[0]
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    suffix = "CONFIGMAP" if source == "configmap" else "SECRET"
    assert env == [{"name": f"STAKATER_CFG_{suffix}", "value": hashlib.sha1(b"k=v2").hexdigest()}]

    # the CronJob itself then carries the marker (written right after the Job is created), so
    # its scheduled runs are consistent too
    async def persisted() -> bool:
        cronjob = await resources.get(kube, CRONJOBS, namespace=namespace, name="nightly")
        spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return bool(spec["containers"][0].get("env") == env)

    await eventually(persisted, timeout=15, what="the marker on the CronJob's template")


@pytest.mark.parametrize(
    ("source", "pod_spec"),
    [
        pytest.param(
            "configmap",
            _pod_spec([{"configMapRef": {"name": "cfg"}}]),
            id="configmap-envfrom-item-81",
        ),
        pytest.param(
            "secret", _pod_spec([{"secretRef": {"name": "cfg"}}]), id="secret-envfrom-item-82"
        ),
        pytest.param(
            "configmap",
            _pod_spec(
                env=[{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]
            ),
            id="configmap-valuefrom-item-84",
        ),
        pytest.param(
            "secret",
            _pod_spec(
                env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "cfg", "key": "k"}}}]
            ),
            id="secret-valuefrom-item-85",
        ),
    ],
)
async def test_job_is_recreated_with_the_same_name_and_a_new_uid(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    source: str,
    pod_spec: dict[str, Any],
) -> None:
    make, update = (
        (make_configmap, update_configmap)
        if source == "configmap"
        else (make_secret, update_secret)
    )
    await make(kube, namespace, "cfg", {"k": "v1"})
    created = await resources.create(
        kube, JOBS, namespace=namespace, body=_job("migrate", AUTO, pod_spec)
    )
    await _recorded(kube, JOBS, namespace, "migrate", f"{source}/cfg")

    await update(kube, namespace, "cfg", {"k": "v2"})

    async def recreated() -> dict[str, Any] | None:
        try:
            job = await resources.get(kube, JOBS, namespace=namespace, name="migrate")
        except Exception:  # noqa: BLE001 - deleted, not created again yet
            return None
        return job if job["metadata"]["uid"] != created["metadata"]["uid"] else None

    job = await eventually(recreated, timeout=15, what="the Job recreated with a new uid")
    assert job is not None
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    suffix = "CONFIGMAP" if source == "configmap" else "SECRET"
    assert {"name": f"STAKATER_CFG_{suffix}", "value": hashlib.sha1(b"k=v2").hexdigest()} in env
    assert json.loads(job["metadata"]["annotations"][APPLIED]) == {
        f"{source}/cfg": hashlib.sha1(b"k=v2").hexdigest()
    }
