"""Every way a pod template can use a source reloads it (Reloader's list of references).

Annotations strategy, as in Reloader's reference-method suite; the marker's ``containerRefs`` shows
which container the controller picked (as Reloader: the referencing container, or the first regular
container when only an init container uses the source).
"""

from __future__ import annotations

from typing import Any

import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    adopt_then_reload,
    cm_env_from,
    cm_key_env,
    cm_volume,
    container,
    make_configmap,
    make_secret,
    projected_volume,
    secret_env_from,
    secret_key_env,
    secret_volume,
)

CONTROLLER_ARGS = ["--reload-strategy=annotations"]

KINDS = [pytest.param(k, id=k) for k in ("Deployment", "DaemonSet", "StatefulSet")]
AUTO = "reloader.stakater.com/auto"
CM_RELOAD = "configmap.reloader.stakater.com/reload"
SECRET_RELOAD = "secret.reloader.stakater.com/reload"
BOTH = {CM_RELOAD: "app-config", SECRET_RELOAD: "app-secret"}


async def _sources(kube: KubeClient, ns: str) -> None:
    await make_configmap(kube, ns, "app-config", {"k": "v1"})
    await make_secret(kube, ns, "app-secret", {"k": "v1"})


def _init_only(init: dict[str, Any]) -> dict[str, Any]:
    """Two regular containers that do not use the source; the init container does."""
    return {"containers": [container("app"), container("sidecar")], "init_containers": [init]}


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_key_ref_change_reloads_item_35(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        containers=[container("other"), container("app", env=[cm_key_env("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_key_ref_change_reloads_item_36(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "app-secret"},
        containers=[container("other"), container("app", env=[secret_key_env("app-secret")])],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_projected_configmap_change_reloads_item_37(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        containers=[container("other"), container("app", mounts=["all"])],
        volumes=[projected_volume("all", configmaps=("app-config",))],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_projected_secret_change_reloads_item_38(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "app-secret"},
        containers=[container("other"), container("app", mounts=["all"])],
        volumes=[projected_volume("all", secrets=("app-secret",))],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_in_mixed_projected_volume_change_reloads_item_39(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations=BOTH,
        containers=[container("app", mounts=["all"])],
        volumes=[projected_volume("all", configmaps=("app-config",), secrets=("app-secret",))],
        recorded=("configmap/app-config", "secret/app-secret"),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_in_mixed_projected_volume_change_reloads_item_40(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations=BOTH,
        containers=[container("app", mounts=["all"])],
        volumes=[projected_volume("all", configmaps=("app-config",), secrets=("app-secret",))],
        recorded=("configmap/app-config", "secret/app-secret"),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_used_by_init_container_env_from_reloads_item_41(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        **_init_only(container("init", env_from=[cm_env_from("app-config")])),
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_used_by_init_container_env_from_reloads_item_42(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "app-secret"},
        **_init_only(container("init", env_from=[secret_env_from("app-secret")])),
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_volume_mounted_by_init_container_reloads_item_43(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        **_init_only(container("init", mounts=["config"])),
        volumes=[cm_volume("config", "app-config")],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_volume_mounted_by_init_container_reloads_item_44(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "app-secret"},
        **_init_only(container("init", mounts=["creds"])),
        volumes=[secret_volume("creds", "app-secret")],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_auto_with_configmap_key_ref_change_reloads_item_45(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _sources(kube, namespace)
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={AUTO: "true"},
        containers=[container("other"), container("app", env=[cm_key_env("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )
