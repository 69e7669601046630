"""CSI SecretProviderClassPodStatus reloads behind --enable-csi-integration.

The secrets-store CRDs are installed; the test plays the CSI driver: it creates one
SecretProviderClassPodStatus per pod and bumps its object versions, as the driver does on rotation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import SPC_POD_STATUSES
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    APPLIED,
    get_workload,
    make_configmap,
    make_workload,
    reload_marker,
    stakater_env,
    update_configmap,
)
from tests.integration.support import ClusterInfo, eventually, install_crds

MANIFESTS = Path(__file__).parent / "manifests"
CONTROLLER_ARGS = ["--enable-csi-integration=true", "--reload-strategy=env-vars"]
SPC_ENV = "STAKATER_VAULT_SPC_SECRETPROVIDERCLASS"


@pytest.fixture(scope="module")
def controller(
    cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    install_crds(
        cluster.kubeconfig,
        MANIFESTS / "secretproviderclasses-crd.json",
        MANIFESTS / "secretproviderclasspodstatuses-crd.json",
    )
    proc = ControllerProcess(
        kubeconfig=cluster.kubeconfig,
        log_path=tmp_path_factory.mktemp("csi") / "r.log",
        args=CONTROLLER_ARGS,
    )
    proc.start()
    yield proc
    assert proc.stop() == 0


def csi_volume(spc: str, name: str = "secrets") -> dict[str, Any]:
    return {
        "name": name,
        "csi": {
            "driver": "secrets-store.csi.k8s.io",
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": spc},
        },
    }


async def put_pod_status(
    kube: KubeClient,
    ns: str,
    *,
    pod: str,
    spc: str,
    version: str,
    labels: dict[str, str] | None = None,
) -> None:
    """Create or update the SecretProviderClassPodStatus of one pod, as the CSI driver does."""
    name = f"{pod}-{ns}-{spc}"
    body: dict[str, Any] = {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClassPodStatus",
        "metadata": {"name": name, "labels": labels or {}},
        "status": {
            "podName": pod,
            "secretProviderClassName": spc,
            "mounted": True,
            "targetPath": f"/var/lib/kubelet/pods/{pod}/volumes/secrets",
            "objects": [{"id": "secret/db-password", "version": version}],
        },
    }
    try:
        current = await resources.get(kube, SPC_POD_STATUSES, namespace=ns, name=name)
    except Exception:  # noqa: BLE001 - not there yet
        await resources.create(kube, SPC_POD_STATUSES, namespace=ns, body=body)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await resources.replace(kube, SPC_POD_STATUSES, namespace=ns, name=name, body=body)


def spc_hash(spc: str, version: str) -> str:
    return hashlib.sha1(  # Reloader's: id=version entries and the class name, sorted, ';'-joined
        ";".join(
            sorted([f"secret/db-password={version}", f"SecretProviderClassName={spc}"])
        ).encode()
    ).hexdigest()


async def _recorded(kube: KubeClient, ns: str, *keys: str) -> None:
    async def probe() -> bool:
        obj = await get_workload(kube, ns, "Deployment", "web")
        record = json.loads(obj["metadata"].get("annotations", {}).get(APPLIED, "{}"))
        return all(k in record for k in keys)

    await eventually(probe, timeout=30, what=f"record of {keys}")


async def _env(kube: KubeClient, ns: str) -> dict[str, str]:
    return stakater_env(await get_workload(kube, ns, "Deployment", "web"))


@pytest.mark.parametrize(
    ("annotations", "init_only"),
    [
        pytest.param(
            {"secretproviderclass.reloader.stakater.com/reload": "vault-spc"},
            False,
            id="explicit-item-3-28",
        ),
        pytest.param(
            {"secretproviderclass.reloader.stakater.com/auto": "true"},
            False,
            id="typed-auto-item-32-51",
        ),
        pytest.param({"reloader.stakater.com/auto": "true"}, False, id="auto-item-53"),
        pytest.param(
            {"secretproviderclass.reloader.stakater.com/reload": "vault-spc"},
            True,
            id="init-container-item-34-89",
        ),
    ],
)
async def test_rotation_of_a_csi_secret_reloads(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    annotations: dict[str, str],
    init_only: bool,
) -> None:
    mount = [{"name": "secrets", "mountPath": "/mnt/secrets"}]
    app: dict[str, Any] = {"name": "app", "image": "x"}
    spec: dict[str, Any] = {"volumes": [csi_volume("vault-spc")], "annotations": annotations}
    if init_only:
        spec["init_containers"] = [{"name": "init", "image": "x", "volumeMounts": mount}]
    else:
        app["volumeMounts"] = mount
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="1")
    await make_workload(kube, namespace, "Deployment", "web", containers=[app], **spec)
    await _recorded(kube, namespace, "secretproviderclass/vault-spc")

    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="2")

    env = await eventually(lambda: _env(kube, namespace), timeout=15, what="the SPC env var")
    assert env == {SPC_ENV: spc_hash("vault-spc", "2")}
    obj = await get_workload(kube, namespace, "Deployment", "web")
    stamped = obj["spec"]["template"]["spec"]["containers"][0]
    assert stamped["name"] == "app"  # an init-only mount stamps the first regular container


async def test_new_pod_status_with_the_same_versions_does_not_reload(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """After a rollout every new pod gets its own status; same versions, same hash: no loop."""
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="1")
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        volumes=[csi_volume("vault-spc")],
        annotations={"secretproviderclass.reloader.stakater.com/auto": "true"},
        containers=[
            {
                "name": "app",
                "image": "x",
                "volumeMounts": [{"name": "secrets", "mountPath": "/mnt"}],
            }
        ],
    )
    await _recorded(kube, namespace, "secretproviderclass/vault-spc")
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="2")
    assert await eventually(lambda: _env(kube, namespace), timeout=15, what="first reload")
    before = await get_workload(kube, namespace, "Deployment", "web")
    # a new pod mounts the rotated secret (version 2), then the old pod's status goes away
    await put_pod_status(kube, namespace, pod="web-2", spc="vault-spc", version="2")
    await resources.delete(
        kube, SPC_POD_STATUSES, namespace=namespace, name=f"web-1-{namespace}-vault-spc"
    )
    # label-only change of the remaining status: processed, skipped as no data change
    skipped = controller.metric("reloader_skipped_total", {"reason": "no_data_change"})
    await put_pod_status(
        kube, namespace, pod="web-2", spc="vault-spc", version="2", labels={"touched": "yes"}
    )

    async def processed() -> bool:
        return controller.metric("reloader_skipped_total", {"reason": "no_data_change"}) > skipped

    await eventually(processed, timeout=15, what="the label-only change processed")
    after = await get_workload(kube, namespace, "Deployment", "web")
    assert after["spec"]["template"] == before["spec"]["template"]


async def test_typed_spc_auto_ignores_configmaps_item_52(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "cfg", {"k": "v1"})
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="1")
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        volumes=[csi_volume("vault-spc")],
        annotations={"secretproviderclass.reloader.stakater.com/auto": "true"},
        containers=[
            {
                "name": "app",
                "image": "x",
                "envFrom": [{"configMapRef": {"name": "cfg"}}],
                "volumeMounts": [{"name": "secrets", "mountPath": "/mnt"}],
            }
        ],
    )
    await _recorded(kube, namespace, "secretproviderclass/vault-spc")
    await update_configmap(kube, namespace, "cfg", {"k": "v2"})
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="2")
    env = await eventually(lambda: _env(kube, namespace), timeout=15, what="SPC reload")
    assert env == {SPC_ENV: spc_hash("vault-spc", "2")}  # no STAKATER_CFG_CONFIGMAP


@pytest.mark.parametrize(
    ("excluded", "expected"),
    [
        pytest.param("vault-spc", {}, id="excluded-item-33-69"),
        pytest.param("other-spc", {SPC_ENV: spc_hash("vault-spc", "2")}, id="not-excluded-item-70"),
    ],
)
async def test_spc_exclude_list(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    excluded: str,
    expected: dict[str, str],
) -> None:
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="1")
    await put_pod_status(kube, namespace, pod="web-1", spc="other-spc", version="1")
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        volumes=[csi_volume("vault-spc"), csi_volume("other-spc", "other")],
        annotations={
            "reloader.stakater.com/auto": "true",
            "secretproviderclasses.exclude.reloader.stakater.com/reload": excluded,
        },
        containers=[
            {
                "name": "app",
                "image": "x",
                "volumeMounts": [
                    {"name": "secrets", "mountPath": "/a"},
                    {"name": "other", "mountPath": "/b"},
                ],
            }
        ],
    )
    kept = "other-spc" if excluded == "vault-spc" else "vault-spc"
    await _recorded(kube, namespace, f"secretproviderclass/{kept}")
    await put_pod_status(kube, namespace, pod="web-1", spc="vault-spc", version="2")
    # the other class changes too, so there is always a reload to wait for
    await put_pod_status(kube, namespace, pod="web-1", spc="other-spc", version="2")
    other_env = "STAKATER_OTHER_SPC_SECRETPROVIDERCLASS"

    async def settled() -> dict[str, str]:
        env = await _env(kube, namespace)
        return env if (other_env in env or SPC_ENV in env) else {}

    env = await eventually(settled, timeout=15, what="a reload")
    env.pop(other_env, None)
    assert env == expected
    assert reload_marker(await get_workload(kube, namespace, "Deployment", "web")) is None
