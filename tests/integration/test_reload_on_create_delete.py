"""--reload-on-create and --reload-on-delete (docs/compatibility.md#reload-on-create-and-delete)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import CONFIGMAPS, SECRETS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    APPLIED,
    get_workload,
    make_configmap,
    make_secret,
    make_workload,
    reload_marker,
    stakater_env,
    wait_recorded,
)
from tests.integration.support import ClusterInfo, eventually

DELETE_MARKER = "aae45badef99284e4dae01d6046154ea9d99532f"


@pytest.fixture
def start(cluster: ClusterInfo, tmp_path: Path, namespace: str):  # type: ignore[no-untyped-def]
    started: list[ControllerProcess] = []

    def run(*args: str) -> ControllerProcess:
        proc = ControllerProcess(
            kubeconfig=cluster.kubeconfig,
            log_path=tmp_path / "r.log",
            args=[f"--namespaces={namespace}", *args],
        )
        proc.start()
        started.append(proc)
        return proc

    yield run
    for proc in started:
        assert proc.stop() == 0


@pytest.mark.parametrize(
    ("source", "annotation"),
    [
        pytest.param(
            "configmap", "configmap.reloader.stakater.com/reload", id="configmap-item-113"
        ),
        pytest.param("secret", "secret.reloader.stakater.com/reload", id="secret-item-114"),
    ],
)
async def test_created_source_reloads_with_reload_on_create(
    kube: KubeClient, namespace: str, start: Any, source: str, annotation: str
) -> None:
    proc = start("--reload-on-create=true", "--reload-strategy=annotations")
    await make_workload(kube, namespace, "Deployment", "web", annotations={annotation: "later"})
    await eventually(
        lambda: _reconciled(proc, namespace), timeout=15, what="the first reconcile of web"
    )
    make = make_configmap if source == "configmap" else make_secret
    await make(kube, namespace, "later", {"k": "v"})

    async def marked() -> str | None:
        return reload_marker(await get_workload(kube, namespace, "Deployment", "web"))

    raw = await eventually(marked, timeout=15, what="reloaded on create")
    assert raw is not None
    marker = json.loads(raw)
    assert marker["name"] == "later"
    assert marker["type"] == source.upper()


async def test_created_source_is_only_recorded_by_default_item_115(
    kube: KubeClient, namespace: str, start: Any
) -> None:
    start("--reload-strategy=annotations")
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={"configmap.reloader.stakater.com/reload": "later"},
    )
    await make_configmap(kube, namespace, "later", {"k": "v"})
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/later")
    assert reload_marker(await get_workload(kube, namespace, "Deployment", "web")) is None


@pytest.mark.parametrize(
    ("source", "rt"),
    [
        pytest.param("configmap", CONFIGMAPS, id="configmap-item-116"),
        pytest.param("secret", SECRETS, id="secret-item-117"),
    ],
)
async def test_deleted_source_removes_the_env_var_with_reload_on_delete(
    kube: KubeClient, namespace: str, start: Any, source: str, rt: Any
) -> None:
    start("--reload-on-delete=true")
    make = make_configmap if source == "configmap" else make_secret
    ref = {"configMapRef" if source == "configmap" else "secretRef": {"name": "cfg"}}
    await make(kube, namespace, "cfg", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[{"name": "app", "image": "x", "envFrom": [ref]}],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", f"{source}/cfg")
    await resources.patch(
        kube,
        rt,
        namespace=namespace,
        name="cfg",
        patch_type="merge",
        body={"data": {"k": "djI=" if source == "secret" else "v2"}},
    )

    async def stamped() -> dict[str, str]:
        return stakater_env(await get_workload(kube, namespace, "Deployment", "web"))

    assert await eventually(stamped, timeout=15, what="env var after the update")
    await resources.delete(kube, rt, namespace=namespace, name="cfg")

    async def removed() -> dict[str, Any] | None:
        obj = await get_workload(kube, namespace, "Deployment", "web")
        return obj if not stakater_env(obj) else None

    obj = await eventually(removed, timeout=15, what="env var removed after the delete")
    assert obj is not None
    assert APPLIED not in obj["metadata"].get("annotations", {})


async def test_deleted_source_writes_the_delete_marker_with_annotations_strategy(
    kube: KubeClient, namespace: str, start: Any
) -> None:
    start("--reload-on-delete=true", "--reload-strategy=annotations")
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[{"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": "cfg"}}]}],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
    await resources.delete(kube, CONFIGMAPS, namespace=namespace, name="cfg")

    async def marked() -> str | None:
        return reload_marker(await get_workload(kube, namespace, "Deployment", "web"))

    raw = await eventually(marked, timeout=15, what="delete marker")
    assert raw is not None
    marker = json.loads(raw)
    assert marker["hash"] == DELETE_MARKER
    assert marker["name"] == "cfg"


async def test_deleted_source_changes_nothing_by_default_item_118(
    kube: KubeClient, namespace: str, start: Any
) -> None:
    proc = start()
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[{"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": "cfg"}}]}],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/cfg")
    before = await get_workload(kube, namespace, "Deployment", "web")
    done_before = len(_done(proc, namespace))
    await resources.delete(kube, CONFIGMAPS, namespace=namespace, name="cfg")

    async def processed() -> bool:
        return len(_done(proc, namespace)) > done_before

    await eventually(processed, timeout=15, what="the delete processed")
    obj = await get_workload(kube, namespace, "Deployment", "web")
    assert obj["spec"]["template"] == before["spec"]["template"]
    # the record keeps the hash, so a re-created ConfigMap with other data rolls the workload
    assert obj["metadata"]["annotations"][APPLIED] == before["metadata"]["annotations"][APPLIED]
    assert proc.metric("reloader_reload_executed_total", {"success": "true"}) == 0


def _done(proc: ControllerProcess, namespace: str) -> list[object]:
    return [e for e in proc.logs("reconcile.done") if e.get("key") == f"Deployment/{namespace}/web"]


async def _reconciled(proc: ControllerProcess, namespace: str) -> bool:
    return any(e.get("key") == f"Deployment/{namespace}/web" for e in proc.logs("reconcile.done"))
