"""``--resource-label-selector``.

The selector is applied server-side to the ConfigMap/Secret watches: an unlabeled source is never
seen, so neither recorded nor reloaded from.
"""

from __future__ import annotations

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    CANARY,
    applied_record,
    cm_env_from,
    container,
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    template_of,
    update_source,
    wait_env,
    wait_recorded,
    wait_seen,
)

CONTROLLER_ARGS = ["--resource-label-selector=reload=true"]

DEPLOYMENT = "Deployment"
AUTO = {"reloader.stakater.com/auto": "true"}
LABELED = {"labels": {"reload": "true"}}


async def test_labeled_configmap_change_reloads_item_119(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "labeled", {"k": "v1"}, **LABELED)
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations=AUTO,
        containers=[container(env_from=[cm_env_from("labeled")])],
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/labeled")

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "labeled", {"k": "v2"})

    after = await wait_env(
        kube, namespace, DEPLOYMENT, "web", "STAKATER_LABELED_CONFIGMAP", new_hash
    )
    assert stakater_env(after) == {"STAKATER_LABELED_CONFIGMAP": new_hash}


async def test_unlabeled_configmap_change_does_not_reload_item_120(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "labeled", {"k": "v1"}, **LABELED)
    await make_configmap(kube, namespace, "unlabeled", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        CANARY,
        annotations=AUTO,
        containers=[container(env_from=[cm_env_from("labeled")])],
    )
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations=AUTO,
        containers=[container(env_from=[cm_env_from("unlabeled")])],
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, CANARY, "configmap/labeled")
    await wait_seen(controller, DEPLOYMENT, namespace, "web")
    before = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert applied_record(before) == {}, "an unlabeled source is never seen, so never recorded"

    await update_source(kube, namespace, "CONFIGMAP", "unlabeled", {"k": "v2"})
    # a later change on the same (selected) ConfigMap watch: once the canary has it, the
    # earlier change would have arrived too, had the watch included it
    canary_hash = await update_source(kube, namespace, "CONFIGMAP", "labeled", {"k": "v2"})

    await wait_env(kube, namespace, DEPLOYMENT, CANARY, "STAKATER_LABELED_CONFIGMAP", canary_hash)
    after = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert stakater_env(after) == {}
    assert template_of(after) == template_of(before)
    assert applied_record(after) == {}
