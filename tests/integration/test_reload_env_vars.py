"""The default env-vars strategy on the real cluster (spec §10 items 26-27, 29-30)."""

from __future__ import annotations

import hashlib

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    update_configmap,
    wait_recorded,
)
from tests.integration.support import eventually

CONTROLLER_ARGS: list[str] = []


async def test_configmap_change_adds_stakater_env_var_item_26(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={"reloader.stakater.com/auto": "true"},
        containers=[
            {"name": "app", "image": "x", "envFrom": [{"configMapRef": {"name": "app-config"}}]}
        ],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/app-config")
    assert stakater_env(await get_workload(kube, namespace, "Deployment", "web")) == {}

    await update_configmap(kube, namespace, "app-config", {"k": "v2"})

    async def env_set() -> dict[str, str]:
        return stakater_env(await get_workload(kube, namespace, "Deployment", "web"))

    env = await eventually(env_set, timeout=15, what="STAKATER_APP_CONFIG_CONFIGMAP")
    assert env == {"STAKATER_APP_CONFIG_CONFIGMAP": hashlib.sha1(b"k=v2").hexdigest()}  # noqa: S324
