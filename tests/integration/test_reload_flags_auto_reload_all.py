"""``--auto-reload-all``: rule 6 of docs/annotations.md#decision-order.

Every workload that references a source reloads without any annotation, unless its ``auto`` (or
the typed auto of the changed source's type) is set to a value, e.g. ``"false"``.
"""

from __future__ import annotations

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    CANARY,
    applied_record,
    assert_not_reloaded,
    cm_env_from,
    configmap_hash,
    container,
    env_name,
    get_workload,
    log_mark,
    make_configmap,
    make_secret,
    make_workload,
    secret_env_from,
    stakater_env,
    update_source,
    wait_env,
    wait_recorded,
    wait_seen,
)

CONTROLLER_ARGS = ["--auto-reload-all=true"]

DEPLOYMENT = "Deployment"


async def test_workload_without_annotations_reloads_item_100(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")
    assert stakater_env(await get_workload(kube, namespace, DEPLOYMENT, "web")) == {}

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    after = await wait_env(
        kube, namespace, DEPLOYMENT, "web", "STAKATER_APP_CONFIG_CONFIGMAP", new_hash
    )
    assert stakater_env(after) == {"STAKATER_APP_CONFIG_CONFIGMAP": new_hash}


async def test_auto_false_opts_out_of_auto_reload_all_item_101(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    refs = [container(env_from=[cm_env_from("app-config")])]
    # the canary needs no annotation either: --auto-reload-all selects it
    await make_workload(kube, namespace, DEPLOYMENT, CANARY, containers=refs)
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={"reloader.stakater.com/auto": "false"},
        containers=refs,
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, CANARY, "configmap/app-config")
    await wait_seen(controller, DEPLOYMENT, namespace, "web")
    before = await get_workload(kube, namespace, DEPLOYMENT, "web")
    since = log_mark(controller)

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    after = await assert_not_reloaded(
        kube,
        controller,
        namespace,
        DEPLOYMENT,
        "web",
        before=before,
        since=since,
        source_type="CONFIGMAP",
        source="app-config",
        canary_hash=new_hash,
    )
    assert stakater_env(after) == {}
    assert applied_record(after) == {}


async def test_typed_auto_false_opts_out_only_its_own_type_spec_1_2_step_9(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """``configmap…/auto: "false"`` stops ConfigMap reloads; Secrets still auto-reload."""
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    refs = [container(env_from=[cm_env_from("app-config"), secret_env_from("app-secret")])]
    await make_workload(kube, namespace, DEPLOYMENT, CANARY, containers=refs)
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={"configmap.reloader.stakater.com/auto": "false"},
        containers=refs,
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, CANARY, "configmap/app-config")
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "secret/app-secret")
    before = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert "configmap/app-config" not in applied_record(before)
    since = log_mark(controller)

    cm_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    await assert_not_reloaded(
        kube,
        controller,
        namespace,
        DEPLOYMENT,
        "web",
        before=before,
        since=since,
        source_type="CONFIGMAP",
        source="app-config",
        canary_hash=cm_hash,
    )

    secret_hash = await update_source(kube, namespace, "SECRET", "app-secret", {"k": "v2"})

    after = await wait_env(
        kube, namespace, DEPLOYMENT, "web", env_name("app-secret", "SECRET"), secret_hash
    )
    assert stakater_env(after) == {"STAKATER_APP_SECRET_SECRET": secret_hash}
    assert cm_hash == configmap_hash({"k": "v2"})
