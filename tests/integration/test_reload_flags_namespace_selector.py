"""``--namespace-selector``.

Only namespaces whose labels match are in scope; a namespace that gets the label later comes
into scope (its workloads adopt their sources then, without a rollout).
"""

from __future__ import annotations

import secrets

from reloader.core.objects import NAMESPACES
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    APPLIED,
    cm_env_from,
    container,
    extra_namespace,
    get_workload,
    make_configmap,
    make_workload,
    stakater_env,
    template_of,
    update_source,
    wait_env,
    wait_metric_increase,
    wait_recorded,
    wait_seen,
)

LABEL, VALUE = "reloader-it-env", "test"
CONTROLLER_ARGS = [f"--namespace-selector={LABEL}={VALUE}"]

DEPLOYMENT = "Deployment"
AUTO = {"reloader.stakater.com/auto": "true"}
VAR = "STAKATER_APP_CONFIG_CONFIGMAP"


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def _auto_workload(kube: KubeClient, ns: str, name: str) -> None:
    await make_configmap(kube, ns, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        ns,
        DEPLOYMENT,
        name,
        annotations=AUTO,
        containers=[container(env_from=[cm_env_from("app-config")])],
    )


async def test_workload_in_matching_namespace_reloads_item_111(
    kube: KubeClient, controller: ControllerProcess
) -> None:
    async with extra_namespace(kube, _name("selected"), {LABEL: VALUE}) as ns:
        await _auto_workload(kube, ns, "web")
        await wait_recorded(kube, ns, DEPLOYMENT, "web", "configmap/app-config")

        new_hash = await update_source(kube, ns, "CONFIGMAP", "app-config", {"k": "v2"})

        after = await wait_env(kube, ns, DEPLOYMENT, "web", VAR, new_hash)
        assert stakater_env(after) == {VAR: new_hash}


async def test_workload_in_non_matching_namespace_does_not_reload_item_112(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    async with extra_namespace(kube, _name("selected"), {LABEL: VALUE}) as selected:
        await _auto_workload(kube, namespace, "web")
        await _auto_workload(kube, selected, "canary")
        await wait_recorded(kube, selected, DEPLOYMENT, "canary", "configmap/app-config")
        await wait_seen(controller, DEPLOYMENT, namespace, "web")
        before = await get_workload(kube, namespace, DEPLOYMENT, "web")
        skipped = {"reason": "ignored_or_not_selected"}
        count = controller.metric("reloader_skipped_total", skipped)

        await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})
        # one ConfigMap watch, in order: the canary's later change proves the first was seen
        canary_hash = await update_source(kube, selected, "CONFIGMAP", "app-config", {"k": "v2"})

        await wait_metric_increase(controller, "reloader_skipped_total", skipped, count)
        await wait_env(kube, selected, DEPLOYMENT, "canary", VAR, canary_hash)
        after = await get_workload(kube, namespace, DEPLOYMENT, "web")
        assert stakater_env(after) == {}
        assert template_of(after) == template_of(before)
        assert APPLIED not in after["metadata"]["annotations"], "never written to"


async def test_namespace_labeled_later_comes_into_scope(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_workload(kube, namespace, "web")
    await wait_seen(controller, DEPLOYMENT, namespace, "web")
    created = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert APPLIED not in created["metadata"]["annotations"]

    await resources.patch(
        kube,
        NAMESPACES,
        namespace=None,
        name=namespace,
        patch_type="merge",
        body={"metadata": {"labels": {LABEL: VALUE}}},
    )

    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")
    adopted = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert template_of(adopted) == template_of(created), "coming into scope adopts, no rollout"
    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})
    await wait_env(kube, namespace, DEPLOYMENT, "web", VAR, new_hash)
