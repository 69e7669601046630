"""The annotations strategy on the real cluster, as in Reloader's core end-to-end suite.

Every positive test lets the controller adopt the source first (its hash recorded, nothing rolls),
then changes the source and waits for the pod-template annotation
``reloader.stakater.com/last-reloaded-from``. Every negative test proves the change was
processed before it looks: a canary Deployment in the same namespace reloads from the same update,
and the target is reconciled after the change (or, for label-only edits, the controller counts the
change as ``skipped_total{reason="no_data_change"}``).
"""

from __future__ import annotations

import pytest

from reloader.core.objects import CONFIGMAPS, SECRETS
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    adopt_then_reload,
    applied_record,
    assert_not_reloaded,
    assert_reloaded,
    cm_env_from,
    cm_volume,
    configmap_hash,
    container,
    get_workload,
    log_mark,
    make_canary,
    make_configmap,
    make_secret,
    make_workload,
    patch_metadata,
    reload_marker,
    secret_env_from,
    secret_volume,
    template_writes,
    update_source,
    wait_marker,
    wait_metric_increase,
    wait_recorded,
    wait_seen,
)
from tests.integration.support import eventually

CONTROLLER_ARGS = ["--reload-strategy=annotations"]

KINDS = [pytest.param(k, id=k) for k in ("Deployment", "DaemonSet", "StatefulSet")]
AUTO = "reloader.stakater.com/auto"
CM_RELOAD = "configmap.reloader.stakater.com/reload"
SECRET_RELOAD = "secret.reloader.stakater.com/reload"


# ------------------------------------------------------------------ Context "Annotations Strategy"


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_change_reloads_item_1(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_change_reloads_item_2(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_secret(kube, namespace, "app-secret", {"password": "one"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "app-secret"},
        containers=[container(env_from=[secret_env_from("app-secret")])],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"password": "two"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_auto_annotation_reloads_on_configmap_change_item_4(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


async def _label_only_change_does_not_reload(
    kube: KubeClient, ns: str, controller: ControllerProcess, kind: str, source_type: str
) -> None:
    if source_type == "CONFIGMAP":
        await make_configmap(kube, ns, "app-config", {"k": "v1"})
        rt, name, annotation, ref = CONFIGMAPS, "app-config", CM_RELOAD, cm_env_from("app-config")
    else:
        await make_secret(kube, ns, "app-secret", {"k": "v1"})
        rt, name, annotation, ref = (
            SECRETS,
            "app-secret",
            SECRET_RELOAD,
            secret_env_from("app-secret"),
        )
    await make_workload(
        kube,
        ns,
        kind,
        "web",
        annotations={annotation: name},
        containers=[container(env_from=[ref])],
    )
    await wait_recorded(kube, ns, kind, "web", f"{source_type.lower()}/{name}")
    before = await get_workload(kube, ns, kind, "web")
    skipped = {"reason": "no_data_change"}
    count = controller.metric("reloader_skipped_total", skipped)

    await patch_metadata(kube, rt, ns, name, labels={"team": "payments"})

    await wait_metric_increase(controller, "reloader_skipped_total", skipped, count)
    after = await get_workload(kube, ns, kind, "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert reload_marker(after) is None
    assert after["spec"]["template"] == before["spec"]["template"]


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_label_only_change_does_not_reload_item_5(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _label_only_change_does_not_reload(kube, namespace, controller, kind, "CONFIGMAP")


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_label_only_change_does_not_reload_item_6(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await _label_only_change_does_not_reload(kube, namespace, controller, kind, "SECRET")


@pytest.mark.parametrize("kind", KINDS)
async def test_volume_mounted_configmap_change_reloads_item_11(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        containers=[container(mounts=["config"])],
        volumes=[cm_volume("config", "app-config")],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_volume_mounted_secret_change_reloads_item_12(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "app-secret"},
        containers=[container(mounts=["creds"])],
        volumes=[secret_volume("creds", "app-secret")],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_workload_without_reloader_annotation_does_not_reload_item_13(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_canary(kube, namespace, configmap="app-config")
    await make_workload(
        kube, namespace, kind, "web", containers=[container(env_from=[cm_env_from("app-config")])]
    )
    await wait_seen(controller, kind, namespace, "web")
    before = await get_workload(kube, namespace, kind, "web")
    since = log_mark(controller)

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    after = await assert_not_reloaded(
        kube,
        controller,
        namespace,
        kind,
        "web",
        before=before,
        since=since,
        source_type="CONFIGMAP",
        source="app-config",
        canary_hash=new_hash,
    )
    assert reload_marker(after) is None
    assert applied_record(after) == {}, "an unselected source is not recorded"


# ------------------------------------------------------------------ Context "Edge Cases"


@pytest.mark.parametrize("kind", KINDS)
async def test_listed_unreferenced_configmap_change_reloads_item_14(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "cm1", {"k": "v1"})
    await make_configmap(kube, namespace, "cm2", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "cm1,cm2"},
        containers=[container(env_from=[cm_env_from("cm1")])],
        recorded=("configmap/cm1", "configmap/cm2"),
        update=("CONFIGMAP", "cm2", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_listed_unreferenced_secret_change_reloads_item_15(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_secret(kube, namespace, "s1", {"k": "v1"})
    await make_secret(kube, namespace, "s2", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={SECRET_RELOAD: "s1,s2"},
        containers=[container(env_from=[secret_env_from("s1")])],
        recorded=("secret/s1", "secret/s2"),
        update=("SECRET", "s2", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_sequential_configmap_updates_reload_each_time_item_16(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    first = await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )

    third = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v3"})

    second = await assert_reloaded(
        kube, namespace, kind, "web", source_type="CONFIGMAP", source="app-config", hash=third
    )
    assert reload_marker(second) != reload_marker(first)
    assert template_writes(first, second) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_change_reloads_with_configmap_and_secret_annotations_item_17(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config", SECRET_RELOAD: "app-secret"},
        containers=[container(env_from=[cm_env_from("app-config"), secret_env_from("app-secret")])],
        recorded=("configmap/app-config", "secret/app-secret"),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_auto_false_does_not_reload_item_18(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_canary(kube, namespace, configmap="app-config")
    await make_workload(
        kube,
        namespace,
        kind,
        "web",
        annotations={AUTO: "false"},
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_seen(controller, kind, namespace, "web")
    before = await get_workload(kube, namespace, kind, "web")
    since = log_mark(controller)

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    after = await assert_not_reloaded(
        kube,
        controller,
        namespace,
        kind,
        "web",
        before=before,
        since=since,
        source_type="CONFIGMAP",
        source="app-config",
        canary_hash=new_hash,
    )
    assert reload_marker(after) is None
    assert applied_record(after) == {}


# ---------------------------------------------------------- Context "Pod Template Annotations"


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_annotation_on_pod_template_only_reloads_item_19(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        template_annotations={CM_RELOAD: "app-config"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_secret_annotation_on_pod_template_only_reloads_item_20(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        template_annotations={SECRET_RELOAD: "app-secret"},
        containers=[container(env_from=[secret_env_from("app-secret")])],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_auto_annotation_on_pod_template_only_reloads_item_21(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await adopt_then_reload(
        kube,
        namespace,
        kind,
        template_annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_annotations_on_workload_and_pod_template_reload_item_24(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    obj = await adopt_then_reload(
        kube,
        namespace,
        kind,
        annotations={CM_RELOAD: "app-config"},
        template_annotations={CM_RELOAD: "app-config"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )
    assert obj["spec"]["template"]["metadata"]["annotations"][CM_RELOAD] == "app-config"


@pytest.mark.parametrize("kind", KINDS)
async def test_configmap_annotation_on_pod_template_ignores_secret_change_item_25(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    await make_canary(kube, namespace, secret="app-secret")
    await make_workload(
        kube,
        namespace,
        kind,
        "web",
        template_annotations={CM_RELOAD: "app-config"},
        containers=[container(env_from=[secret_env_from("app-secret")])],
    )
    await wait_recorded(kube, namespace, kind, "web", "configmap/app-config")
    before = await get_workload(kube, namespace, kind, "web")
    since = log_mark(controller)

    new_hash = await update_source(kube, namespace, "SECRET", "app-secret", {"k": "v2"})

    after = await assert_not_reloaded(
        kube,
        controller,
        namespace,
        kind,
        "web",
        before=before,
        since=since,
        source_type="SECRET",
        source="app-secret",
        canary_hash=new_hash,
    )
    assert reload_marker(after) is None
    assert applied_record(after) == {"configmap/app-config": configmap_hash({"k": "v1"})}


# ------------------------------------------------------------------ metrics


@pytest.mark.parametrize("kind", KINDS)
async def test_reload_is_counted_in_reloader_metrics_spec_7(
    kube: KubeClient, namespace: str, controller: ControllerProcess, kind: str
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_workload(
        kube,
        namespace,
        kind,
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_recorded(kube, namespace, kind, "web", "configmap/app-config")
    series = {
        "reloader_reload_executed_total": {"success": "true"},
        "reloader_action_total": {"workload_kind": kind, "result": "success"},
        "reloader_workloads_matched_total": {"kind": kind},
    }
    before = {name: controller.metric(name, labels) for name, labels in series.items()}
    failed = controller.metric("reloader_reload_executed_total", {"success": "false"})

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})
    await wait_marker(kube, namespace, kind, "web", source="app-config", hash=new_hash)

    async def counted() -> dict[str, float] | None:
        now = {name: controller.metric(name, labels) for name, labels in series.items()}
        return now if all(now[n] > before[n] for n in series) else None

    after = await eventually(counted, timeout=10, what="the reload to be counted")
    assert after == {name: before[name] + 1 for name in series}
    assert controller.metric("reloader_reload_executed_total", {"success": "false"}) == failed
