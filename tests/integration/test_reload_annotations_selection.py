"""Which annotation selects which change, on Deployments: spec §10 items 46-50, 54-67, 74-79,
87-88 and 91-93 (auto, typed auto, explicit lists, exclude, ignore, search/match, several
containers, regexes), plus the Events of a reload (spec §5.5) and of an invalid regex.

Annotations strategy. Negative tests prove the change was processed before they look: a canary
Deployment reloads from the same update, and the target is reconciled after the change.
"""

from __future__ import annotations

import pytest

from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    adopt_then_reload,
    applied_record,
    assert_not_reloaded,
    assert_reloaded,
    cm_env_from,
    configmap_hash,
    container,
    get_workload,
    log_mark,
    make_canary,
    make_configmap,
    make_secret,
    make_workload,
    reload_marker,
    secret_env_from,
    update_source,
    wait_recorded,
    wait_seen,
    workload_events,
)
from tests.integration.support import eventually

CONTROLLER_ARGS = ["--reload-strategy=annotations"]

AUTO = "reloader.stakater.com/auto"
CM_AUTO = "configmap.reloader.stakater.com/auto"
SECRET_AUTO = "secret.reloader.stakater.com/auto"
CM_RELOAD = "configmap.reloader.stakater.com/reload"
SECRET_RELOAD = "secret.reloader.stakater.com/reload"
CM_EXCLUDE = "configmaps.exclude.reloader.stakater.com/reload"
SECRET_EXCLUDE = "secrets.exclude.reloader.stakater.com/reload"
SEARCH = "reloader.stakater.com/search"
MATCH = "reloader.stakater.com/match"
IGNORE = "reloader.stakater.com/ignore"
DEPLOYMENT = "Deployment"


async def change_does_not_reload(
    kube: KubeClient,
    controller: ControllerProcess,
    ns: str,
    *,
    source_type: str,
    source: str,
    canary: bool = True,
    name: str = "web",
) -> None:
    """Change ``source`` and prove the (already seen) workload ``name`` did not roll."""
    before = await get_workload(kube, ns, DEPLOYMENT, name)
    since = log_mark(controller)
    new_hash = await update_source(kube, ns, source_type, source, {"k": "changed"})
    await assert_not_reloaded(
        kube,
        controller,
        ns,
        DEPLOYMENT,
        name,
        before=before,
        since=since,
        source_type=source_type,
        source=source,
        canary_hash=new_hash if canary else None,
    )


async def change_reloads(
    kube: KubeClient, ns: str, *, source_type: str, source: str, container: str = "app"
) -> None:
    """Change ``source`` and wait for the workload ``web`` to be reloaded from it."""
    before = await get_workload(kube, ns, DEPLOYMENT, "web")
    new_hash = await update_source(kube, ns, source_type, source, {"k": "v2"})
    after = await assert_reloaded(
        kube,
        ns,
        DEPLOYMENT,
        "web",
        source_type=source_type,
        source=source,
        hash=new_hash,
        container=container,
    )
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1


async def _configmaps(kube: KubeClient, ns: str, *names: str) -> None:
    for name in names:
        await make_configmap(kube, ns, name, {"k": "v1"})


async def _secrets(kube: KubeClient, ns: str, *names: str) -> None:
    for name in names:
        await make_secret(kube, ns, name, {"k": "v1"})


# ------------------------------------------------------------------ auto (items 46-50, 54)


async def test_auto_reloads_on_referenced_configmap_change_item_46(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1", "cm2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("cm1"), cm_env_from("cm2")])],
        recorded=("configmap/cm1", "configmap/cm2"),
        update=("CONFIGMAP", "cm2", {"k": "v2"}),
    )


async def test_auto_reloads_on_referenced_secret_change_item_47(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _secrets(kube, namespace, "s1", "s2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[container(env_from=[secret_env_from("s1"), secret_env_from("s2")])],
        recorded=("secret/s1", "secret/s2"),
        update=("SECRET", "s1", {"k": "v2"}),
    )


async def test_auto_reloads_on_configmap_change_with_configmap_and_secret_item_48(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1")
    await _secrets(kube, namespace, "s1")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("cm1"), secret_env_from("s1")])],
        recorded=("configmap/cm1", "secret/s1"),
        update=("CONFIGMAP", "cm1", {"k": "v2"}),
    )


@pytest.mark.parametrize(
    ("annotation", "ignored", "selected"),
    [
        pytest.param(CM_AUTO, ("SECRET", "s1"), ("CONFIGMAP", "cm1"), id="configmap-auto"),
        pytest.param(SECRET_AUTO, ("CONFIGMAP", "cm1"), ("SECRET", "s1"), id="secret-auto"),
    ],
)
async def test_typed_auto_reloads_only_on_its_source_type_items_49_50(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    annotation: str,
    ignored: tuple[str, str],
    selected: tuple[str, str],
) -> None:
    await _configmaps(kube, namespace, "cm1")
    await _secrets(kube, namespace, "s1")
    await make_canary(kube, namespace, configmap="cm1", secret="s1")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={annotation: "true"},
        containers=[container(env_from=[cm_env_from("cm1"), secret_env_from("s1")])],
    )
    selected_key = f"{selected[0].lower()}/{selected[1]}"
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", selected_key)
    obj = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert list(applied_record(obj)) == [selected_key], "the other type is not selected"

    await change_does_not_reload(
        kube, controller, namespace, source_type=ignored[0], source=ignored[1]
    )
    await change_reloads(kube, namespace, source_type=selected[0], source=selected[1])


async def test_auto_with_explicit_list_reloads_on_auto_detected_change_item_54(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1", "cm2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true", CM_RELOAD: "cm1"},
        containers=[container(env_from=[cm_env_from("cm1"), cm_env_from("cm2")])],
        recorded=("configmap/cm1", "configmap/cm2"),
        update=("CONFIGMAP", "cm2", {"k": "v2"}),
    )


# ------------------------------------------------------------------ combinations (items 55-63)


async def test_auto_with_explicit_list_reloads_on_listed_referenced_change_item_55(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true", CM_RELOAD: "cm1"},
        containers=[container(env_from=[cm_env_from("cm1")])],
        recorded=("configmap/cm1",),
        update=("CONFIGMAP", "cm1", {"k": "v2"}),
    )


async def test_auto_with_explicit_list_reloads_on_listed_unreferenced_configmap_item_56(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1", "cm2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true", CM_RELOAD: "cm2"},
        containers=[container(env_from=[cm_env_from("cm1")]), container("sidecar")],
        recorded=("configmap/cm1", "configmap/cm2"),
        update=("CONFIGMAP", "cm2", {"k": "v2"}),
    )


async def test_auto_with_explicit_list_reloads_on_listed_unreferenced_secret_item_57(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _secrets(kube, namespace, "s1", "s2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true", SECRET_RELOAD: "s2"},
        containers=[container(env_from=[secret_env_from("s1")])],
        recorded=("secret/s1", "secret/s2"),
        update=("SECRET", "s2", {"k": "v2"}),
    )


async def _auto_with_exclude(
    kube: KubeClient,
    controller: ControllerProcess,
    ns: str,
    *,
    source_type: str,
    exclude: str,
    change: str,
    excluded: bool,
) -> None:
    """``auto`` + the exclude list on workload ``web`` referencing ``x1`` and ``x2``; change one."""
    if source_type == "CONFIGMAP":
        await _configmaps(kube, ns, "x1", "x2")
        refs = [cm_env_from("x1"), cm_env_from("x2")]
        annotations = {AUTO: "true", CM_EXCLUDE: exclude}
    else:
        await _secrets(kube, ns, "x1", "x2")
        refs = [secret_env_from("x1"), secret_env_from("x2")]
        annotations = {AUTO: "true", SECRET_EXCLUDE: exclude}
    await make_workload(
        kube, ns, DEPLOYMENT, "web", annotations=annotations, containers=[container(env_from=refs)]
    )
    prefix = source_type.lower()
    await wait_recorded(kube, ns, DEPLOYMENT, "web", f"{prefix}/x2")
    obj = await get_workload(kube, ns, DEPLOYMENT, "web")
    assert f"{prefix}/x1" not in applied_record(obj), "an excluded source is not recorded"
    if excluded:
        canary = {"configmap" if source_type == "CONFIGMAP" else "secret": change}
        await make_canary(kube, ns, **canary)
        await change_does_not_reload(kube, controller, ns, source_type=source_type, source=change)
    else:
        await change_reloads(kube, ns, source_type=source_type, source=change)


async def test_auto_with_exclude_ignores_excluded_configmap_item_58(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube,
        controller,
        namespace,
        source_type="CONFIGMAP",
        exclude="x1",
        change="x1",
        excluded=True,
    )


async def test_auto_with_exclude_reloads_on_other_configmap_item_59(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube,
        controller,
        namespace,
        source_type="CONFIGMAP",
        exclude="x1",
        change="x2",
        excluded=False,
    )


async def test_auto_with_exclude_ignores_excluded_secret_item_60(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube, controller, namespace, source_type="SECRET", exclude="x1", change="x1", excluded=True
    )


async def test_any_of_several_listed_unreferenced_configmaps_reloads_item_61(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1", "cm2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={CM_RELOAD: "cm1,cm2"},
        containers=[container("first"), container("second")],
        recorded=("configmap/cm1", "configmap/cm2"),
        update=("CONFIGMAP", "cm2", {"k": "v2"}),
        container="first",
    )


async def test_any_of_several_listed_unreferenced_secrets_reloads_item_62(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _secrets(kube, namespace, "s1", "s2")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={SECRET_RELOAD: "s1,s2"},
        containers=[container("first"), container("second")],
        recorded=("secret/s1", "secret/s2"),
        update=("SECRET", "s1", {"k": "v2"}),
        container="first",
    )


async def test_secret_change_reloads_with_both_explicit_lists_item_63(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1")
    await _secrets(kube, namespace, "s1")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={CM_RELOAD: "cm1", SECRET_RELOAD: "s1"},
        containers=[container()],
        recorded=("configmap/cm1", "secret/s1"),
        update=("SECRET", "s1", {"k": "v2"}),
    )


# ------------------------------------------------------------------ exclude (items 64-67)


async def test_excluded_configmap_change_does_not_reload_item_64(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube,
        controller,
        namespace,
        source_type="CONFIGMAP",
        exclude=" x1 , other ",
        change="x1",
        excluded=True,
    )


async def test_non_excluded_configmap_change_reloads_item_65(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube,
        controller,
        namespace,
        source_type="CONFIGMAP",
        exclude=" x1 , other ",
        change="x2",
        excluded=False,
    )


async def test_excluded_secret_change_does_not_reload_item_66(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube,
        controller,
        namespace,
        source_type="SECRET",
        exclude="other,x1",
        change="x1",
        excluded=True,
    )


async def test_non_excluded_secret_change_reloads_item_67(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _auto_with_exclude(
        kube,
        controller,
        namespace,
        source_type="SECRET",
        exclude="other,x1",
        change="x2",
        excluded=False,
    )


# ------------------------------------------------------------------ ignore (items 74-75)


@pytest.mark.parametrize(
    "source_type",
    [
        pytest.param("CONFIGMAP", id="configmap-item-74"),
        pytest.param("SECRET", id="secret-item-75"),
    ],
)
async def test_source_with_ignore_annotation_does_not_reload_items_74_75(
    kube: KubeClient, namespace: str, controller: ControllerProcess, source_type: str
) -> None:
    ignore = {"annotations": {IGNORE: "true"}}
    if source_type == "CONFIGMAP":
        await make_configmap(kube, namespace, "ignored", {"k": "v1"}, **ignore)
        await make_configmap(kube, namespace, "watched", {"k": "v1"})
        refs = [cm_env_from("ignored"), cm_env_from("watched")]
    else:
        await make_secret(kube, namespace, "ignored", {"k": "v1"}, **ignore)
        await make_secret(kube, namespace, "watched", {"k": "v1"})
        refs = [secret_env_from("ignored"), secret_env_from("watched")]
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={AUTO: "true"},
        containers=[container(env_from=refs)],
    )
    prefix = source_type.lower()
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", f"{prefix}/watched")
    obj = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert f"{prefix}/ignored" not in applied_record(obj)

    # no canary can reload from an ignored source: the reconcile after the change is the proof
    await change_does_not_reload(
        kube, controller, namespace, source_type=source_type, source="ignored", canary=False
    )
    # and the same workload still reloads from its other source
    await change_reloads(kube, namespace, source_type=source_type, source="watched")


# ------------------------------------------------------------------ search / match (items 76-79)


async def test_search_reloads_on_matching_configmap_item_76(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"}, annotations={MATCH: "true"})
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={SEARCH: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


async def test_search_without_match_on_configmap_does_not_reload_item_77(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_canary(kube, namespace, configmap="app-config")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={SEARCH: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_seen(controller, DEPLOYMENT, namespace, "web")
    await change_does_not_reload(
        kube, controller, namespace, source_type="CONFIGMAP", source="app-config"
    )
    assert applied_record(await get_workload(kube, namespace, DEPLOYMENT, "web")) == {}


async def test_match_without_search_on_workload_does_not_reload_item_78(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"}, annotations={MATCH: "true"})
    await make_canary(kube, namespace, configmap="app-config")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        containers=[container(env_from=[cm_env_from("app-config")])],
    )
    await wait_seen(controller, DEPLOYMENT, namespace, "web")
    await change_does_not_reload(
        kube, controller, namespace, source_type="CONFIGMAP", source="app-config"
    )
    assert applied_record(await get_workload(kube, namespace, DEPLOYMENT, "web")) == {}


async def test_search_reloads_only_the_searching_deployment_item_79(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"}, annotations={MATCH: "true"})
    refs = [container(env_from=[cm_env_from("app-config")])]
    await make_workload(kube, namespace, DEPLOYMENT, "plain", containers=refs)
    await make_workload(
        kube, namespace, DEPLOYMENT, "web", annotations={SEARCH: "true"}, containers=refs
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")
    await wait_seen(controller, DEPLOYMENT, namespace, "plain")
    plain = await get_workload(kube, namespace, DEPLOYMENT, "plain")
    since = log_mark(controller)

    new_hash = await update_source(kube, namespace, "CONFIGMAP", "app-config", {"k": "v2"})

    # the searching Deployment is the canary of the plain one
    await assert_reloaded(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        source_type="CONFIGMAP",
        source="app-config",
        hash=new_hash,
    )
    await assert_not_reloaded(
        kube,
        controller,
        namespace,
        DEPLOYMENT,
        "plain",
        before=plain,
        since=since,
        source_type="CONFIGMAP",
        source="app-config",
        canary_hash=None,
    )


# ------------------------------------------------------------------ several containers (87-88)


async def test_configmap_used_by_two_containers_reloads_first_item_87(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "shared")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[
            container("one", env_from=[cm_env_from("shared")]),
            container("two", env_from=[cm_env_from("shared")]),
        ],
        recorded=("configmap/shared",),
        update=("CONFIGMAP", "shared", {"k": "v2"}),
        container="one",
    )


async def test_each_containers_configmap_change_reloads_item_88(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm-a", "cm-b")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[
            container("a", env_from=[cm_env_from("cm-a")]),
            container("b", env_from=[cm_env_from("cm-b")]),
        ],
        recorded=("configmap/cm-a", "configmap/cm-b"),
        update=("CONFIGMAP", "cm-a", {"k": "v2"}),
        container="a",
    )
    await change_reloads(kube, namespace, source_type="CONFIGMAP", source="cm-b", container="b")


# ------------------------------------------------------------------ regexes (items 91-93)


async def test_configmap_matching_regex_reloads_item_91(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "app-config-main", "other-config")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={CM_RELOAD: "app-config-.*"},
        containers=[container()],
        recorded=("configmap/app-config-main",),
        update=("CONFIGMAP", "app-config-main", {"k": "v2"}),
    )


async def test_configmap_not_matching_regex_does_not_reload_item_92(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "app-config-main", "other-config", "xapp-config-1")
    await make_canary(kube, namespace, configmap="other-config")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={CM_RELOAD: "app-config-.*"},
        containers=[container()],
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config-main")
    record = applied_record(await get_workload(kube, namespace, DEPLOYMENT, "web"))
    assert record == {"configmap/app-config-main": configmap_hash({"k": "v1"})}, "anchored"

    await change_does_not_reload(
        kube, controller, namespace, source_type="CONFIGMAP", source="other-config"
    )


async def test_secret_matching_regex_reloads_item_93(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _secrets(kube, namespace, "app-secret-db", "unrelated")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={SECRET_RELOAD: "app-secret-.*"},
        containers=[container()],
        recorded=("secret/app-secret-db",),
        update=("SECRET", "app-secret-db", {"k": "v2"}),
    )


# ------------------------------------------------------------------ Events (spec §5.5)


async def test_reload_records_a_reloaded_event_spec_5_5(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "app-config")
    obj = await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )

    async def reloaded_events() -> list[dict[str, object]]:
        events = await workload_events(kube, namespace, "web")
        return [e for e in events if e.get("reason") == "Reloaded"]

    [event] = await eventually(reloaded_events, timeout=10, what="a Reloaded Event")
    assert event["type"] == "Normal"
    assert event["message"] == (
        f"Changes detected in 'app-config' of type 'CONFIGMAP' in namespace '{namespace}', "
        f"Updated 'web' of type 'Deployment' in namespace '{namespace}'"
    )
    involved = event["involvedObject"]
    assert isinstance(involved, dict)
    assert involved["kind"] == "Deployment"
    assert involved["namespace"] == namespace
    assert involved["uid"] == obj["metadata"]["uid"]


async def test_invalid_regex_warns_and_valid_elements_still_reload(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "app-config")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={CM_RELOAD: "app-[, app-config"},
        containers=[container()],
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")

    async def warnings() -> list[dict[str, object]]:
        events = await workload_events(kube, namespace, "web")
        return [e for e in events if e.get("reason") == "InvalidAnnotation"]

    [event] = await eventually(warnings, timeout=10, what="an InvalidAnnotation Event")
    assert event["type"] == "Warning"
    message = str(event["message"])
    assert CM_RELOAD in message
    assert '"app-["' in message

    await change_reloads(kube, namespace, source_type="CONFIGMAP", source="app-config")
    assert reload_marker(await get_workload(kube, namespace, DEPLOYMENT, "web")) is not None
    # the warning is not repeated for every reconcile of the same problem
    assert len(await warnings()) == 1


async def test_reloaded_event_component_names_the_resource_type_spec_5_5(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _secrets(kube, namespace, "app-secret")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[container(env_from=[secret_env_from("app-secret")])],
        recorded=("secret/app-secret",),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )

    async def reloaded_events() -> list[dict[str, object]]:
        events = await workload_events(kube, namespace, "web")
        return [e for e in events if e.get("reason") == "Reloaded"]

    [event] = await eventually(reloaded_events, timeout=10, what="a Reloaded Event")
    assert event["source"] == {"component": "reloader-secrets"}


# ------------------------------------------------------------------ §1.2 fine print


async def test_pod_template_fallback_is_decided_per_source_type_spec_1_2_step_4(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """Only ``configmap…/reload`` on metadata: a Secret change reads the template's ``auto``."""
    await _configmaps(kube, namespace, "app-config")
    await _secrets(kube, namespace, "app-secret")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={CM_RELOAD: "app-config"},
        template_annotations={AUTO: "true"},
        containers=[container(env_from=[cm_env_from("app-config"), secret_env_from("app-secret")])],
        recorded=("configmap/app-config", "secret/app-secret"),
        update=("SECRET", "app-secret", {"k": "v2"}),
    )


async def test_exclude_on_pod_template_is_not_read_item_68(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    """Exclude lists are read from workload metadata only (spec §1.2 step 4; item 68)."""
    await _configmaps(kube, namespace, "app-config")
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        template_annotations={CM_EXCLUDE: "app-config"},
        containers=[container(env_from=[cm_env_from("app-config")])],
        recorded=("configmap/app-config",),
        update=("CONFIGMAP", "app-config", {"k": "v2"}),
    )


async def test_exclude_beats_the_explicit_list_spec_1_2_step_5(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1", "cm2")
    await make_canary(kube, namespace, configmap="cm1")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations={CM_RELOAD: "cm1,cm2", CM_EXCLUDE: "cm1"},
        containers=[container(env_from=[cm_env_from("cm1"), cm_env_from("cm2")])],
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/cm2")
    assert list(applied_record(await get_workload(kube, namespace, DEPLOYMENT, "web"))) == [
        "configmap/cm2"
    ]

    await change_does_not_reload(kube, controller, namespace, source_type="CONFIGMAP", source="cm1")
    await change_reloads(kube, namespace, source_type="CONFIGMAP", source="cm2")
