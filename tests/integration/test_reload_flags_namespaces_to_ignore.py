"""``--namespaces-to-ignore``.

A change in an ignored namespace is dropped by the event filter (counted as
``skipped_total{reason="ignored_or_not_selected"}``), and workloads there are never written to.
"""

from __future__ import annotations

import secrets

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

IGNORED = f"reloader-ignored-{secrets.token_hex(3)}"
CONTROLLER_ARGS = [f"--namespaces-to-ignore={IGNORED}"]

DEPLOYMENT = "Deployment"
AUTO = {"reloader.stakater.com/auto": "true"}
VAR = "STAKATER_APP_CONFIG_CONFIGMAP"


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


async def test_change_in_ignored_namespace_does_not_reload_item_109(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    async with extra_namespace(kube, IGNORED) as ignored:
        await _auto_workload(kube, ignored, "web")
        await _auto_workload(kube, namespace, "canary")
        await wait_recorded(kube, namespace, DEPLOYMENT, "canary", "configmap/app-config")
        await wait_seen(controller, DEPLOYMENT, ignored, "web")
        before = await get_workload(kube, ignored, DEPLOYMENT, "web")
        skipped = {"reason": "ignored_or_not_selected"}
        count = controller.metric("reloader_skipped_total", skipped)

        await update_source(kube, ignored, "CONFIGMAP", "app-config", {"k": "v2"})
        # ConfigMap events arrive in order on one watch: once the canary's later change has
        # been applied, the change in the ignored namespace has been seen (and dropped)
        canary_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

        await wait_metric_increase(controller, "reloader_skipped_total", skipped, count)
        await wait_env(kube, namespace, DEPLOYMENT, "canary", VAR, canary_hash)
        after = await get_workload(kube, ignored, DEPLOYMENT, "web")
        assert stakater_env(after) == {}
        assert template_of(after) == template_of(before)
        assert APPLIED not in after["metadata"]["annotations"], "never written to"
        assert after["metadata"]["generation"] == 1


async def test_change_in_watched_namespace_reloads_item_110(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_workload(kube, namespace, "web")
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    after = await wait_env(kube, namespace, DEPLOYMENT, "web", VAR, new_hash)
    assert stakater_env(after) == {VAR: new_hash}
