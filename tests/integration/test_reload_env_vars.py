"""The default env-vars strategy on the real cluster (docs/compatibility.md#strategies).

A change of a selected source sets ``STAKATER_<NAME>_<TYPE>=<sha1>`` in exactly one container of
the pod template: the container that references the source, or the first regular
container when only an init container does (docs/compatibility.md#references).
"""

from __future__ import annotations

import hashlib

import pytest

from reloader.core.objects import CONFIGMAPS, SECRETS
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    applied_record,
    cm_env_from,
    configmap_hash,
    container,
    container_env,
    get_workload,
    log_mark,
    make_configmap,
    make_secret,
    make_workload,
    patch_metadata,
    reload_marker,
    secret_env_from,
    secret_hash,
    stakater_env,
    template_of,
    template_writes,
    update_configmap,
    update_source,
    wait_env,
    wait_metric_increase,
    wait_reconciled_after_change,
    wait_recorded,
)
from tests.integration.support import eventually

CONTROLLER_ARGS: list[str] = []

KINDS = [pytest.param(k, id=k) for k in ("Deployment", "DaemonSet", "StatefulSet")]
AUTO = "reloader.stakater.com/auto"
CM_RELOAD = "configmap.reloader.stakater.com/reload"
SECRET_RELOAD = "secret.reloader.stakater.com/reload"


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_change_adds_stakater_env_var_item_26(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        kind,
        "web",
        annotations={AUTO: "true"},
        containers=[
            container("sidecar"),
            container("app", env_from=[cm_env_from("app-config")]),
        ],
    )
    await wait_recorded(kube, namespace, kind, "web", "configmap/app-config")
    before = await get_workload(kube, namespace, kind, "web")
    assert stakater_env(before) == {}

    await update_configmap(kube, namespace, "app-config", {"k": "v2"})

    async def env_set() -> dict[str, str]:
        return stakater_env(await get_workload(kube, namespace, kind, "web"))

    env = await eventually(env_set, timeout=15, what="STAKATER_APP_CONFIG_CONFIGMAP")
    assert env == {"STAKATER_APP_CONFIG_CONFIGMAP": hashlib.sha1(b"k=v2").hexdigest()}
    after = await get_workload(kube, namespace, kind, "web")
    assert container_env(after, "app") == env, "only the referencing container is stamped"
    assert container_env(after, "sidecar") == {}
    assert reload_marker(after) is None, "the env-vars strategy writes no marker annotation"
    assert applied_record(after) == {"configmap/app-config": configmap_hash({"k": "v2"})}
    assert template_writes(before, after) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_change_adds_stakater_env_var_item_27(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_secret(kube, namespace, "app-secret", {"password": "one"})
    await make_workload(
        kube,
        namespace,
        kind,
        "web",
        annotations={SECRET_RELOAD: "app-secret"},
        containers=[container(env_from=[secret_env_from("app-secret")])],
    )
    await wait_recorded(kube, namespace, kind, "web", "secret/app-secret")
    before = await get_workload(kube, namespace, kind, "web")
    assert stakater_env(before) == {}

    new_hash = await update_source(kube, namespace, "SECRET", "app-secret", {"password": "two"})

    after = await wait_env(kube, namespace, kind, "web", "STAKATER_APP_SECRET_SECRET", new_hash)
    assert new_hash == hashlib.sha1(b"password=two").hexdigest()
    assert stakater_env(after) == {"STAKATER_APP_SECRET_SECRET": new_hash}
    assert template_writes(before, after) == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "source_type",
    [
        pytest.param("CONFIGMAP", id="configmap-item-29"),
        pytest.param("SECRET", id="secret-item-30"),
    ],
)
async def test_label_only_change_adds_no_env_var_items_29_30(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str, source_type: str
) -> None:
    if source_type == "CONFIGMAP":
        await make_configmap(kube, namespace, "src", {"k": "v1"})
        rt, ref = CONFIGMAPS, cm_env_from("src")
    else:
        await make_secret(kube, namespace, "src", {"k": "v1"})
        rt, ref = SECRETS, secret_env_from("src")
    await make_workload(
        kube,
        namespace,
        kind,
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=[ref])],
    )
    await wait_recorded(kube, namespace, kind, "web", f"{source_type.lower()}/src")
    before = await get_workload(kube, namespace, kind, "web")
    skipped = {"reason": "no_data_change"}
    count = controller.metric("reloader_skipped_total", skipped)

    await patch_metadata(kube, rt, namespace, "src", labels={"release": "blue"})

    await wait_metric_increase(controller, "reloader_skipped_total", skipped, count)
    after = await get_workload(kube, namespace, kind, "web")
    assert stakater_env(after) == {}
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]


# ------------------------------------------------------------------ which container, which name


async def test_init_container_reference_stamps_first_regular_container_spec_4(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={AUTO: "true"},
        init_containers=[container("init", env_from=[cm_env_from("app-config")])],
        containers=[container("first"), container("second")],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/app-config")

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    after = await wait_env(
        kube, namespace, "Deployment", "web", "STAKATER_APP_CONFIG_CONFIGMAP", new_hash
    )
    assert container_env(after, "first") == {"STAKATER_APP_CONFIG_CONFIGMAP": new_hash}
    assert container_env(after, "second") == {}
    init = after["spec"]["template"]["spec"]["initContainers"][0]
    assert "env" not in init, "init containers are never stamped"


@pytest.mark.parametrize(
    ("source", "var"),
    [
        pytest.param("www.stakater.com", "STAKATER_WWW_STAKATER_COM_CONFIGMAP", id="dots"),
        pytest.param("a--b.c", "STAKATER_A_B_C_CONFIGMAP", id="runs-collapse"),
    ],
)
async def test_env_var_name_is_converted_from_source_name_spec_5_1(
    kube: KubeClient, namespace: str, controller: ControllerProcess, source: str, var: str
) -> None:
    await make_configmap(kube, namespace, source, {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={CM_RELOAD: source},
        containers=[container()],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", f"configmap/{source}")

    new_hash = await update_source(kube, namespace, "CONFIGMAP", source, {"k": "v2"})

    after = await wait_env(kube, namespace, "Deployment", "web", var, new_hash)
    assert stakater_env(after) == {var: new_hash}


async def test_sequential_updates_replace_the_env_var_value_item_16(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/app-config")
    var = "STAKATER_APP_CONFIG_CONFIGMAP"

    second = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})
    first = await wait_env(kube, namespace, "Deployment", "web", var, second)
    third = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v3"})
    after = await wait_env(kube, namespace, "Deployment", "web", var, third)

    env = after["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e for e in env if e["name"] == var] == [{"name": var, "value": third}]
    assert template_writes(first, after) == 1


# ------------------------------------------------------------------ migration from Reloader


async def test_workload_stamped_by_reloader_is_adopted_without_rollout(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """A workload that Reloader already stamped with the current hash does not roll again."""
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    current = secret_hash({"k": "v1"})
    stamp = {"name": "STAKATER_APP_SECRET_SECRET", "value": current}
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=[secret_env_from("app-secret")], env=[stamp])],
    )
    created = await get_workload(kube, namespace, "Deployment", "web")
    await wait_recorded(kube, namespace, "Deployment", "web", "secret/app-secret")
    adopted = await get_workload(kube, namespace, "Deployment", "web")
    assert template_of(adopted) == template_of(created), "adopting the stamp must not roll"
    assert applied_record(adopted) == {"secret/app-secret": current}

    new_hash = await update_source(kube, namespace, "SECRET", "app-secret", {"k": "v2"})
    rolled = await wait_env(
        kube, namespace, "Deployment", "web", "STAKATER_APP_SECRET_SECRET", new_hash
    )
    assert template_writes(adopted, rolled) == 1


async def test_change_missed_since_reloader_stamped_rolls_once(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """Reloader stamped an older hash: the change it missed is applied when we take over."""
    await make_configmap(kube, namespace, "app-config", {"k": "v2"})
    stale = configmap_hash({"k": "v1"})
    stamp = {"name": "STAKATER_APP_CONFIG_CONFIGMAP", "value": stale}
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")], env=[stamp])],
    )
    current = configmap_hash({"k": "v2"})

    after = await wait_env(
        kube, namespace, "Deployment", "web", "STAKATER_APP_CONFIG_CONFIGMAP", current
    )
    # one write: the new hash and the record together (a Deployment's generation also counts
    # metadata annotation changes, so 2 means exactly one write since creation)
    assert after["metadata"]["generation"] == 2
    assert applied_record(after) == {"configmap/app-config": current}


async def test_annotation_only_change_counts_as_no_data_change_spec_3(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """Any update with an equal hash counts as no_data_change, as in Reloader (its load
    test S4 expects skipped == annotation-only updates), even though we still reconcile it."""
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        "Deployment",
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_recorded(kube, namespace, "Deployment", "web", "configmap/app-config")
    before = await get_workload(kube, namespace, "Deployment", "web")
    skipped = {"reason": "no_data_change"}
    count = controller.metric("reloader_skipped_total", skipped)
    since = log_mark(controller)

    await patch_metadata(kube, CONFIGMAPS, namespace, "app-config", annotations={"note": "x"})

    await wait_reconciled_after_change(
        controller,
        since=since,
        source_ns=namespace,
        source="app-config",
        kind="Deployment",
        ns=namespace,
        name="web",
    )
    after = await get_workload(kube, namespace, "Deployment", "web")
    assert template_of(after) == template_of(before), "no rollout"
    assert controller.metric("reloader_skipped_total", skipped) == count + 1
