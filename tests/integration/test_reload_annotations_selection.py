"""Which annotation selects which change, on Deployments, as in Reloader's end-to-end suite
(auto, typed auto, explicit lists, exclude, ignore, search/match, several
containers, regexes), plus the Events of a reload and of an invalid regex.

Annotations strategy. Negative tests prove the change was processed before they look: a canary
Deployment reloads from the same update, and the target is reconciled after the change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    template_writes,
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
    assert template_writes(before, after) == 1


async def make_web(
    kube: KubeClient,
    ns: str,
    *,
    annotations: dict[str, str],
    containers: list[dict[str, Any]],
    recorded: tuple[str, ...],
) -> dict[str, str]:
    """Create the Deployment ``web``, wait until it records these sources, return its record."""
    await make_workload(kube, ns, DEPLOYMENT, "web", annotations=annotations, containers=containers)
    await wait_recorded(kube, ns, DEPLOYMENT, "web", *recorded)
    return applied_record(await get_workload(kube, ns, DEPLOYMENT, "web"))


async def _configmaps(kube: KubeClient, ns: str, *names: str) -> None:
    for name in names:
        await make_configmap(kube, ns, name, {"k": "v1"})


async def _secrets(kube: KubeClient, ns: str, *names: str) -> None:
    for name in names:
        await make_secret(kube, ns, name, {"k": "v1"})


# ------------------------------------------------ adopt, then reload from the change (many items)


@dataclass(frozen=True)
class Adoption:
    """Workload ``web`` with these annotations adopts ``recorded`` without a rollout; then a change
    of ``update`` (type, name) reloads it, stamped in ``container``."""

    annotations: dict[str, str]
    containers: list[dict[str, Any]]
    recorded: tuple[str, ...]
    update: tuple[str, str]
    configmaps: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    #: on every source created
    source_annotations: dict[str, str] = field(default_factory=dict)
    template_annotations: dict[str, str] | None = None
    container: str = "app"


ADOPTIONS = [
    pytest.param(
        Adoption(
            configmaps=("cm1", "cm2"),
            annotations={AUTO: "true"},
            containers=[container(env_from=[cm_env_from("cm1"), cm_env_from("cm2")])],
            recorded=("configmap/cm1", "configmap/cm2"),
            update=("CONFIGMAP", "cm2"),
        ),
        id="item-46-auto-referenced-configmap",
    ),
    pytest.param(
        Adoption(
            secrets=("s1", "s2"),
            annotations={AUTO: "true"},
            containers=[container(env_from=[secret_env_from("s1"), secret_env_from("s2")])],
            recorded=("secret/s1", "secret/s2"),
            update=("SECRET", "s1"),
        ),
        id="item-47-auto-referenced-secret",
    ),
    pytest.param(
        Adoption(
            configmaps=("cm1",),
            secrets=("s1",),
            annotations={AUTO: "true"},
            containers=[container(env_from=[cm_env_from("cm1"), secret_env_from("s1")])],
            recorded=("configmap/cm1", "secret/s1"),
            update=("CONFIGMAP", "cm1"),
        ),
        id="item-48-auto-configmap-of-configmap-and-secret",
    ),
    pytest.param(
        Adoption(
            configmaps=("cm1", "cm2"),
            annotations={AUTO: "true", CM_RELOAD: "cm1"},
            containers=[container(env_from=[cm_env_from("cm1"), cm_env_from("cm2")])],
            recorded=("configmap/cm1", "configmap/cm2"),
            update=("CONFIGMAP", "cm2"),
        ),
        id="item-54-auto-and-list-auto-detected-change",
    ),
    pytest.param(
        Adoption(
            configmaps=("cm1",),
            annotations={AUTO: "true", CM_RELOAD: "cm1"},
            containers=[container(env_from=[cm_env_from("cm1")])],
            recorded=("configmap/cm1",),
            update=("CONFIGMAP", "cm1"),
        ),
        id="item-55-auto-and-list-listed-referenced-change",
    ),
    pytest.param(
        Adoption(
            configmaps=("cm1", "cm2"),
            annotations={AUTO: "true", CM_RELOAD: "cm2"},
            containers=[container(env_from=[cm_env_from("cm1")]), container("sidecar")],
            recorded=("configmap/cm1", "configmap/cm2"),
            update=("CONFIGMAP", "cm2"),
        ),
        id="item-56-auto-and-list-listed-unreferenced-configmap",
    ),
    pytest.param(
        Adoption(
            secrets=("s1", "s2"),
            annotations={AUTO: "true", SECRET_RELOAD: "s2"},
            containers=[container(env_from=[secret_env_from("s1")])],
            recorded=("secret/s1", "secret/s2"),
            update=("SECRET", "s2"),
        ),
        id="item-57-auto-and-list-listed-unreferenced-secret",
    ),
    pytest.param(
        Adoption(
            configmaps=("cm1", "cm2"),
            annotations={CM_RELOAD: "cm1,cm2"},
            containers=[container("first"), container("second")],
            recorded=("configmap/cm1", "configmap/cm2"),
            update=("CONFIGMAP", "cm2"),
            container="first",
        ),
        id="item-61-any-of-several-listed-unreferenced-configmaps",
    ),
    pytest.param(
        Adoption(
            secrets=("s1", "s2"),
            annotations={SECRET_RELOAD: "s1,s2"},
            containers=[container("first"), container("second")],
            recorded=("secret/s1", "secret/s2"),
            update=("SECRET", "s1"),
            container="first",
        ),
        id="item-62-any-of-several-listed-unreferenced-secrets",
    ),
    pytest.param(
        Adoption(
            configmaps=("cm1",),
            secrets=("s1",),
            annotations={CM_RELOAD: "cm1", SECRET_RELOAD: "s1"},
            containers=[container()],
            recorded=("configmap/cm1", "secret/s1"),
            update=("SECRET", "s1"),
        ),
        id="item-63-secret-change-with-both-explicit-lists",
    ),
    # exclude lists are read from workload metadata only (docs/annotations.md#decision-order)
    pytest.param(
        Adoption(
            configmaps=("app-config",),
            annotations={AUTO: "true"},
            template_annotations={CM_EXCLUDE: "app-config"},
            containers=[container(env_from=[cm_env_from("app-config")])],
            recorded=("configmap/app-config",),
            update=("CONFIGMAP", "app-config"),
        ),
        id="item-68-exclude-on-pod-template-is-not-read",
    ),
    pytest.param(
        Adoption(
            configmaps=("app-config",),
            source_annotations={MATCH: "true"},
            annotations={SEARCH: "true"},
            containers=[container(env_from=[cm_env_from("app-config")])],
            recorded=("configmap/app-config",),
            update=("CONFIGMAP", "app-config"),
        ),
        id="item-76-search-and-matching-configmap",
    ),
    pytest.param(
        Adoption(
            configmaps=("shared",),
            annotations={AUTO: "true"},
            containers=[
                container("one", env_from=[cm_env_from("shared")]),
                container("two", env_from=[cm_env_from("shared")]),
            ],
            recorded=("configmap/shared",),
            update=("CONFIGMAP", "shared"),
            container="one",
        ),
        id="item-87-configmap-of-two-containers-reloads-the-first",
    ),
    pytest.param(
        Adoption(
            configmaps=("app-config-main", "other-config"),
            annotations={CM_RELOAD: "app-config-.*"},
            containers=[container()],
            recorded=("configmap/app-config-main",),
            update=("CONFIGMAP", "app-config-main"),
        ),
        id="item-91-configmap-matching-regex",
    ),
    pytest.param(
        Adoption(
            secrets=("app-secret-db", "unrelated"),
            annotations={SECRET_RELOAD: "app-secret-.*"},
            containers=[container()],
            recorded=("secret/app-secret-db",),
            update=("SECRET", "app-secret-db"),
        ),
        id="item-93-secret-matching-regex",
    ),
    # only configmap…/reload on metadata: a Secret change reads the template's auto
    pytest.param(
        Adoption(
            configmaps=("app-config",),
            secrets=("app-secret",),
            annotations={CM_RELOAD: "app-config"},
            template_annotations={AUTO: "true"},
            containers=[
                container(env_from=[cm_env_from("app-config"), secret_env_from("app-secret")])
            ],
            recorded=("configmap/app-config", "secret/app-secret"),
            update=("SECRET", "app-secret"),
        ),
        id="spec-1.2-step-4-pod-template-fallback-per-source-type",
    ),
]


@pytest.mark.parametrize("case", ADOPTIONS)
async def test_adopts_without_a_rollout_then_reloads_on_the_selected_change(
    kube: KubeClient, namespace: str, controller: ControllerProcess, case: Adoption
) -> None:
    for name in case.configmaps:
        await make_configmap(
            kube, namespace, name, {"k": "v1"}, annotations=case.source_annotations
        )
    for name in case.secrets:
        await make_secret(kube, namespace, name, {"k": "v1"}, annotations=case.source_annotations)
    await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations=case.annotations,
        template_annotations=case.template_annotations,
        containers=case.containers,
        recorded=case.recorded,
        update=(*case.update, {"k": "v2"}),
        container=case.container,
    )


# ------------------------------------------------------------------ typed auto (items 49-50)


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
    selected_key = f"{selected[0].lower()}/{selected[1]}"
    record = await make_web(
        kube,
        namespace,
        annotations={annotation: "true"},
        containers=[container(env_from=[cm_env_from("cm1"), secret_env_from("s1")])],
        recorded=(selected_key,),
    )
    assert list(record) == [selected_key], "the other type is not selected"

    await change_does_not_reload(
        kube, controller, namespace, source_type=ignored[0], source=ignored[1]
    )
    await change_reloads(kube, namespace, source_type=selected[0], source=selected[1])


# ------------------------------------------------------ auto with exclude (items 58-60, 64-67)


@pytest.mark.parametrize(
    ("source_type", "exclude", "change", "excluded"),
    [
        pytest.param("CONFIGMAP", "x1", "x1", True, id="item-58-excluded-configmap"),
        pytest.param("CONFIGMAP", "x1", "x2", False, id="item-59-other-configmap"),
        pytest.param("SECRET", "x1", "x1", True, id="item-60-excluded-secret"),
        pytest.param(
            "CONFIGMAP",
            " x1 , other ",
            "x1",
            True,
            id="item-64-excluded-configmap-spaced",
        ),
        pytest.param(
            "CONFIGMAP",
            " x1 , other ",
            "x2",
            False,
            id="item-65-other-configmap-spaced",
        ),
        pytest.param("SECRET", "other,x1", "x1", True, id="item-66-excluded-secret"),
        pytest.param("SECRET", "other,x1", "x2", False, id="item-67-other-secret"),
    ],
)
async def test_auto_with_exclude_list_reloads_only_on_sources_not_excluded(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    source_type: str,
    exclude: str,
    change: str,
    excluded: bool,
) -> None:
    """``auto`` + the exclude list on workload ``web`` referencing ``x1`` and ``x2``; change one."""
    if source_type == "CONFIGMAP":
        await _configmaps(kube, namespace, "x1", "x2")
        refs = [cm_env_from("x1"), cm_env_from("x2")]
        annotations = {AUTO: "true", CM_EXCLUDE: exclude}
    else:
        await _secrets(kube, namespace, "x1", "x2")
        refs = [secret_env_from("x1"), secret_env_from("x2")]
        annotations = {AUTO: "true", SECRET_EXCLUDE: exclude}
    prefix = source_type.lower()
    record = await make_web(
        kube,
        namespace,
        annotations=annotations,
        containers=[container(env_from=refs)],
        recorded=(f"{prefix}/x2",),
    )
    assert f"{prefix}/x1" not in record, "an excluded source is not recorded"
    if excluded:
        await make_canary(kube, namespace, **{prefix: change})
        await change_does_not_reload(
            kube, controller, namespace, source_type=source_type, source=change
        )
    else:
        await change_reloads(kube, namespace, source_type=source_type, source=change)


# ------------------------------------------------------------------ ignore


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
    prefix = source_type.lower()
    record = await make_web(
        kube,
        namespace,
        annotations={AUTO: "true"},
        containers=[container(env_from=refs)],
        recorded=(f"{prefix}/watched",),
    )
    assert f"{prefix}/ignored" not in record

    # no canary can reload from an ignored source: the reconcile after the change is the proof
    await change_does_not_reload(
        kube, controller, namespace, source_type=source_type, source="ignored", canary=False
    )
    # and the same workload still reloads from its other source
    await change_reloads(kube, namespace, source_type=source_type, source="watched")


# ------------------------------------------------------------------ search / match (items 77-79)


@pytest.mark.parametrize(
    ("source_annotations", "workload_annotations"),
    [
        pytest.param({}, {SEARCH: "true"}, id="item-77-search-without-match-on-configmap"),
        pytest.param({MATCH: "true"}, {}, id="item-78-match-without-search-on-workload"),
    ],
)
async def test_search_and_match_need_each_other_items_77_78(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    source_annotations: dict[str, str],
    workload_annotations: dict[str, str],
) -> None:
    await make_configmap(kube, namespace, "app-config", {"k": "v1"}, annotations=source_annotations)
    await make_canary(kube, namespace, configmap="app-config")
    await make_workload(
        kube,
        namespace,
        DEPLOYMENT,
        "web",
        annotations=workload_annotations,
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


# ------------------------------------------------------------------ several containers (item 88)


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


# ------------------------------------------------------------------ regexes (item 92)


async def test_configmap_not_matching_regex_does_not_reload_item_92(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "app-config-main", "other-config", "xapp-config-1")
    await make_canary(kube, namespace, configmap="other-config")
    record = await make_web(
        kube,
        namespace,
        annotations={CM_RELOAD: "app-config-.*"},
        containers=[container()],
        recorded=("configmap/app-config-main",),
    )
    assert record == {"configmap/app-config-main": configmap_hash({"k": "v1"})}, "anchored"

    await change_does_not_reload(
        kube, controller, namespace, source_type="CONFIGMAP", source="other-config"
    )


# ------------------------------------------------------------------ Events


async def _reloaded_events(kube: KubeClient, ns: str) -> list[dict[str, object]]:
    events = await workload_events(kube, ns, "web")
    return [e for e in events if e.get("reason") == "Reloaded"]


@pytest.mark.parametrize(
    ("source_type", "name", "env_from", "component"),
    [
        pytest.param("CONFIGMAP", "app-config", cm_env_from, "reloader-configmaps", id="configmap"),
        pytest.param("SECRET", "app-secret", secret_env_from, "reloader-secrets", id="secret"),
    ],
)
async def test_reload_records_a_reloaded_event_naming_source_and_workload_spec_5_5(
    kube: KubeClient,
    namespace: str,
    controller: ControllerProcess,
    source_type: str,
    name: str,
    env_from: Callable[[str], dict[str, Any]],
    component: str,
) -> None:
    if source_type == "CONFIGMAP":
        await _configmaps(kube, namespace, name)
    else:
        await _secrets(kube, namespace, name)
    obj = await adopt_then_reload(
        kube,
        namespace,
        DEPLOYMENT,
        annotations={AUTO: "true"},
        containers=[container(env_from=[env_from(name)])],
        recorded=(f"{source_type.lower()}/{name}",),
        update=(source_type, name, {"k": "v2"}),
    )

    [event] = await eventually(
        lambda: _reloaded_events(kube, namespace), timeout=10, what="a Reloaded Event"
    )
    assert event["type"] == "Normal"
    assert event["message"] == (
        f"Changes detected in '{name}' of type '{source_type}' in namespace '{namespace}', "
        f"Updated 'web' of type 'Deployment' in namespace '{namespace}'"
    )
    involved = event["involvedObject"]
    assert isinstance(involved, dict)
    assert involved["kind"] == "Deployment"
    assert involved["namespace"] == namespace
    assert involved["uid"] == obj["metadata"]["uid"]
    # the component names the resource type, as Reloader's does
    assert event["source"] == {"component": component}


async def test_invalid_regex_warns_and_valid_elements_still_reload(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "app-config")
    await make_web(
        kube,
        namespace,
        annotations={CM_RELOAD: "app-[, app-config"},
        containers=[container()],
        recorded=("configmap/app-config",),
    )

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


# ------------------------------------------------------------------ selection fine print


async def test_exclude_beats_the_explicit_list_spec_1_2_step_5(
    kube: KubeClient, namespace: str, controller: ControllerProcess
) -> None:
    await _configmaps(kube, namespace, "cm1", "cm2")
    await make_canary(kube, namespace, configmap="cm1")
    record = await make_web(
        kube,
        namespace,
        annotations={CM_RELOAD: "cm1,cm2", CM_EXCLUDE: "cm1"},
        containers=[container(env_from=[cm_env_from("cm1"), cm_env_from("cm2")])],
        recorded=("configmap/cm2",),
    )
    assert list(record) == ["configmap/cm2"]

    await change_does_not_reload(kube, controller, namespace, source_type="CONFIGMAP", source="cm1")
    await change_reloads(kube, namespace, source_type="CONFIGMAP", source="cm2")
