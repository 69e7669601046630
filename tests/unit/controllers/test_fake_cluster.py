"""The fake cluster itself: what the controller tests rely on it to do as an API server does."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING

import anyio
import pytest

from reloader.core.objects import CONFIGMAPS, DEPLOYMENTS, EventType
from reloader.errors import Conflict, NotFound
from reloader.kube import resources
from reloader.kube.watch import list_then_watch
from tests.unit.controllers.builders import NS, configmap, deployment, env_of

if TYPE_CHECKING:
    from reloader.kube.client import KubeClient
    from tests.unit.controllers.fake_cluster import FakeCluster


async def test_strategic_patch_merges_env_by_name_and_bumps_generation_on_spec_changes(
    cluster: FakeCluster, client: KubeClient
) -> None:
    cluster.put(DEPLOYMENTS, deployment("a"))
    env = [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    containers = [{"name": "app", "env": env}]
    template = {"spec": {"template": {"spec": {"containers": containers}}}}
    first = await resources.patch(
        client, DEPLOYMENTS, namespace=NS, name="a", body=template, patch_type="strategic"
    )
    delete_x = [{"name": "app", "env": [{"name": "X", "$patch": "delete"}]}]
    second = await resources.patch(
        client,
        DEPLOYMENTS,
        namespace=NS,
        name="a",
        body={"spec": {"template": {"spec": {"containers": delete_x}}}},
        patch_type="strategic",
    )
    record = {"metadata": {"annotations": {"x": "y"}}}
    third = await resources.patch(
        client, DEPLOYMENTS, namespace=NS, name="a", body=record, patch_type="strategic"
    )
    assert env_of(first) == {"X": "1", "Y": "2"}
    assert env_of(second) == {"Y": "2"}
    assert second["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    generations = [o["metadata"]["generation"] for o in (first, second, third)]
    assert generations == [2, 3, 3], "metadata changes leave the generation alone"


async def test_a_stale_resource_version_is_a_conflict_and_a_no_op_write_changes_nothing(
    cluster: FakeCluster, client: KubeClient
) -> None:
    created = cluster.put(DEPLOYMENTS, deployment("a"))
    stale = {"metadata": {"resourceVersion": "1", "annotations": {"x": "y"}}}
    with pytest.raises(Conflict):
        await resources.patch(
            client, DEPLOYMENTS, namespace=NS, name="a", body=stale, patch_type="strategic"
        )
    same = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}}
    unchanged = await resources.patch(
        client, DEPLOYMENTS, namespace=NS, name="a", body=same, patch_type="merge"
    )
    assert unchanged["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    with pytest.raises(NotFound):
        await resources.get(client, DEPLOYMENTS, namespace=NS, name="gone")


async def test_a_watch_replays_the_changes_after_its_resource_version(
    cluster: FakeCluster, client: KubeClient
) -> None:
    cluster.put(CONFIGMAPS, configmap("a", {"k": "1"}))
    with anyio.fail_after(5):
        async with aclosing(list_then_watch(client, CONFIGMAPS, namespace=NS)) as stream:
            listed = [await anext(stream) for _ in range(3)]
            cluster.modify(CONFIGMAPS, NS, "a", lambda cm: cm.update(data={"k": "2"}))
            cluster.put(CONFIGMAPS, configmap("b", {"k": "1"}, namespace="elsewhere"))
            cluster.put(CONFIGMAPS, configmap("c", {"k": "1"}))
            changes = [await anext(stream) for _ in range(2)]
    assert [e.type for e in listed] == [EventType.RESET, EventType.ADDED, EventType.SYNCED]
    assert [(e.type, e.object["metadata"]["name"]) for e in changes if e.object] == [
        (EventType.MODIFIED, "a"),
        (EventType.ADDED, "c"),
    ]
    assert changes[0].object is not None
    assert changes[0].object["data"] == {"k": "2"}
