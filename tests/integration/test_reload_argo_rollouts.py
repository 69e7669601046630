"""Argo Rollouts behind --is-Argo-Rollouts (docs/compatibility.md#workload-kinds).

Only the Rollout CRD is installed (no Argo controller): what is checked is what reloader writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import ROLLOUTS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import APPLIED, make_configmap, update_configmap
from tests.integration.support import ClusterInfo, eventually, install_crds

MANIFEST = Path(__file__).parent / "manifests" / "argo-rollouts-crd.json"


@pytest.fixture(scope="module")
def controller(
    cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    """The Rollout CRD must exist before the controller starts (it checks at startup)."""
    install_crds(cluster.kubeconfig, MANIFEST)
    proc = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path_factory.mktemp("argo") / "r.log",
        args=["--is-argo-rollouts=true"],
    )
    proc.start()
    yield proc
    assert proc.stop() == 0


def _rollout(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "x",
                            "envFrom": [{"configMapRef": {"name": "cfg"}}],
                        },
                        {"name": "sidecar", "image": "y"},
                    ]
                },
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}},
        },
    }


async def _setup(kube: KubeClient, ns: str, annotations: dict[str, str]) -> None:
    await make_configmap(kube, ns, "cfg", {"k": "v1"})
    await resources.create(
        kube,
        ROLLOUTS,
        namespace=ns,
        body=_rollout("ro", {"reloader.stakater.com/auto": "true", **annotations}),
    )

    async def recorded() -> bool:
        obj = await resources.get(kube, ROLLOUTS, namespace=ns, name="ro")
        return "configmap/cfg" in json.loads(obj["metadata"]["annotations"].get(APPLIED, "{}"))

    await eventually(recorded, timeout=30, what="the Rollout's record")


async def test_default_strategy_changes_the_template_item_94(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _setup(kube, namespace, {})
    await update_configmap(kube, namespace, "cfg", {"k": "v2"})

    async def stamped() -> dict[str, Any] | None:
        obj = await resources.get(kube, ROLLOUTS, namespace=namespace, name="ro")
        containers = obj["spec"]["template"]["spec"]["containers"]
        return obj if containers[0].get("env") else None

    obj = await eventually(stamped, timeout=15, what="env var on the Rollout template")
    assert obj is not None
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert containers[0]["env"] == [
        {"name": "STAKATER_CFG_CONFIGMAP", "value": hashlib.sha1(b"k=v2").hexdigest()}
    ]
    # the whole object was kept: the other container, envFrom and the strategy are intact
    assert containers[0]["envFrom"] == [{"configMapRef": {"name": "cfg"}}]
    assert containers[1] == {"name": "sidecar", "image": "y"}
    assert obj["spec"]["strategy"] == {"canary": {"steps": [{"setWeight": 50}]}}
    assert "restartAt" not in obj["spec"]


async def test_restart_strategy_sets_restart_at_item_95(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _setup(kube, namespace, {"reloader.stakater.com/rollout-strategy": "restart"})
    before = await resources.get(kube, ROLLOUTS, namespace=namespace, name="ro")
    await update_configmap(kube, namespace, "cfg", {"k": "v2"})

    async def restarted() -> dict[str, Any] | None:
        obj = await resources.get(kube, ROLLOUTS, namespace=namespace, name="ro")
        return obj if obj["spec"].get("restartAt") else None

    obj = await eventually(restarted, timeout=15, what="spec.restartAt")
    assert obj is not None
    assert obj["spec"]["template"] == before["spec"]["template"]  # template untouched
    record = json.loads(obj["metadata"]["annotations"][APPLIED])
    assert record == {"configmap/cfg": hashlib.sha1(b"k=v2").hexdigest()}
