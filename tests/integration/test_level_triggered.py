"""The promises beyond Reloader: level-triggered, one rollout per burst.

Each test runs its own controller processes (not the module fixture), because it stops and
starts them: (a) a change made while the controller was down rolls exactly once after it starts;
(b) a restart with no change writes nothing; (c) a burst of changes gives one rollout; (d)
label-only and annotation-only edits of a source roll nothing. Every process must exit 0 on
SIGTERM.

"Exactly one rollout" is read from the cluster: the Deployment owns exactly two ReplicaSets (the
initial one and one per template change) and the controller counted one reload. To know that the
controller has settled, the tests *poke* it with an annotation-only edit of a source, which queues
the workload again, and wait for that reconcile: a level-triggered controller must find nothing
left to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import CONFIGMAPS, SECRETS, ResourceType
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.reload_support import (
    applied_record,
    cm_env_from,
    configmap_hash,
    container,
    get_workload,
    log_mark,
    make_configmap,
    make_secret,
    make_workload,
    patch_metadata,
    secret_env_from,
    secret_hash,
    stakater_env,
    template_of,
    template_writes,
    update_configmap,
    update_secret,
    wait_env,
    wait_metric_increase,
    wait_reconciled_after_change,
    wait_recorded,
    workload_key,
)
from tests.integration.support import ClusterInfo, eventually

REPLICASETS = ResourceType("apps", "v1", "replicasets", "ReplicaSet")
DEPLOYMENT = "Deployment"
AUTO = {"reloader.stakater.com/auto": "true"}
EXECUTED = ("reloader_reload_executed_total", {"success": "true"})

Start = Callable[..., ControllerProcess]


@pytest.fixture
def start_controller(cluster: ClusterInfo, tmp_path: Path) -> Iterator[Start]:
    """Start a controller with these flags (each its own log file); all stopped at the end."""
    started: list[ControllerProcess] = []

    def start(*args: str) -> ControllerProcess:
        log_path = tmp_path / f"reloader-{len(started)}.log"
        proc = ControllerProcess(kubeconfig=cluster.kubeconfig, log_path=log_path, args=list(args))
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        if proc.proc is not None:
            proc.stop()


async def owned_replicasets(kube: KubeClient, ns: str, name: str) -> list[dict[str, Any]]:
    uid = (await get_workload(kube, ns, DEPLOYMENT, name))["metadata"]["uid"]
    page = await resources.list_page(kube, REPLICASETS, namespace=ns)
    return [
        rs
        for rs in page["items"]
        if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])
    ]


async def wait_replicasets(kube: KubeClient, ns: str, name: str, count: int) -> None:
    """Wait for ``count`` ReplicaSets owned by the Deployment; fail at once on more."""

    async def counted() -> int:
        return len(await owned_replicasets(kube, ns, name))

    async def enough() -> bool:
        return await counted() >= count

    await eventually(enough, timeout=30, what=f"{name} to own {count} ReplicaSet(s)")
    assert await counted() == count, f"{name}: more than {count} ReplicaSets (extra rollouts)"


async def wait_settled(kube: KubeClient, ns: str, name: str, replicasets: int) -> None:
    """The Deployment owns this many ReplicaSets and the deployment controller caught up."""
    await wait_replicasets(kube, ns, name, replicasets)

    async def settled() -> bool:
        obj = await get_workload(kube, ns, DEPLOYMENT, name)
        revision = obj["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
        observed = obj.get("status", {}).get("observedGeneration")
        return bool(revision == str(replicasets) and observed == obj["metadata"]["generation"])

    await eventually(settled, timeout=30, what=f"the deployment controller to settle {name}")


async def poke_and_settle(
    kube: KubeClient,
    proc: ControllerProcess,
    ns: str,
    source: str,
    *names: str,
    kind: ResourceType = CONFIGMAPS,
) -> None:
    """Queue the workloads again (annotation-only edit of ``source``) and wait for them."""
    since = log_mark(proc)
    await patch_metadata(kube, kind, ns, source, annotations={"poke": str(since)})
    for name in names:
        await wait_reconciled_after_change(
            proc, since=since, source_ns=ns, source=source, kind=DEPLOYMENT, ns=ns, name=name
        )


def writes(proc: ControllerProcess, event: str, ns: str, name: str) -> list[dict[str, Any]]:
    """Log lines ``event`` (workload.reloaded / workload.recorded) about this workload."""
    key = workload_key(DEPLOYMENT, ns, name)
    return [
        e
        for e in proc.logs(event)
        if e.get("key") == key or (e.get("namespace"), e.get("name")) == (ns, name)
    ]


async def _auto_deployment(kube: KubeClient, ns: str, name: str, *sources: str) -> None:
    refs = [
        secret_env_from(s.removeprefix("secret/")) if s.startswith("secret/") else cm_env_from(s)
        for s in sources
    ]
    await make_workload(
        kube, ns, DEPLOYMENT, name, annotations=AUTO, containers=[container(env_from=refs)]
    )


# ---------------------------------------------------------------------------------------- (a)


async def test_change_while_stopped_rolls_exactly_once_after_start(
    kube: KubeClient, namespace: str, start_controller: Start
) -> None:
    first = start_controller()
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await _auto_deployment(kube, namespace, "web", "app-config")
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")
    await wait_settled(kube, namespace, "web", 1)
    assert first.stop() == 0, "the controller must exit 0 on SIGTERM"

    await update_configmap(kube, namespace, "app-config", {"k": "v2"})  # nobody is watching

    second = start_controller()
    new_hash = configmap_hash({"k": "v2"})
    rolled = await wait_env(
        kube, namespace, DEPLOYMENT, "web", "STAKATER_APP_CONFIG_CONFIGMAP", new_hash
    )
    await poke_and_settle(kube, second, namespace, "app-config", "web")

    await wait_replicasets(kube, namespace, "web", 2)
    after = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert stakater_env(after) == {"STAKATER_APP_CONFIG_CONFIGMAP": new_hash}
    assert after["metadata"]["generation"] == rolled["metadata"]["generation"], "one write only"
    assert applied_record(after) == {"configmap/app-config": new_hash}
    assert len(writes(second, "workload.reloaded", namespace, "web")) == 1
    assert second.metric(*EXECUTED) == 1
    assert len(await owned_replicasets(kube, namespace, "web")) == 2
    assert second.stop() == 0


# ---------------------------------------------------------------------------------------- (b)


async def test_restart_without_change_writes_nothing(
    kube: KubeClient, namespace: str, start_controller: Start
) -> None:
    first = start_controller()
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    # "web" only adopted its source; "rolled" was reloaded once before the restart
    await _auto_deployment(kube, namespace, "web", "app-config")
    await _auto_deployment(kube, namespace, "rolled", "secret/app-secret")
    await wait_recorded(kube, namespace, DEPLOYMENT, "web", "configmap/app-config")
    await wait_recorded(kube, namespace, DEPLOYMENT, "rolled", "secret/app-secret")
    await update_secret(kube, namespace, "app-secret", {"k": "v2"})
    await wait_env(
        kube,
        namespace,
        DEPLOYMENT,
        "rolled",
        "STAKATER_APP_SECRET_SECRET",
        secret_hash({"k": "v2"}),
    )
    replicasets = {"web": 1, "rolled": 2}
    for name, count in replicasets.items():
        await wait_settled(kube, namespace, name, count)
    assert first.stop() == 0, "the controller must exit 0 on SIGTERM"
    snapshot = {n: await get_workload(kube, namespace, DEPLOYMENT, n) for n in replicasets}

    second = start_controller()
    # the initial pass reconciles every workload: wait until both were looked at, then poke
    for name in replicasets:
        key = workload_key(DEPLOYMENT, namespace, name)

        async def reconciled(key: str = key) -> bool:
            return any(e.get("key") == key for e in second.logs("reconcile.done"))

        await eventually(reconciled, timeout=30, what=f"the new controller to reconcile {key}")
    await poke_and_settle(kube, second, namespace, "app-config", "web")
    await poke_and_settle(kube, second, namespace, "app-secret", "rolled", kind=SECRETS)

    for name, before in snapshot.items():
        after = await get_workload(kube, namespace, DEPLOYMENT, name)
        assert after["metadata"]["generation"] == before["metadata"]["generation"], name
        assert after["metadata"]["annotations"] == before["metadata"]["annotations"], name
        assert after["spec"] == before["spec"], name
        assert writes(second, "workload.reloaded", namespace, name) == []
        assert writes(second, "workload.recorded", namespace, name) == []
        assert len(await owned_replicasets(kube, namespace, name)) == replicasets[name]
    assert second.metric(*EXECUTED) == 0
    assert second.stop() == 0


# ---------------------------------------------------------------------------------------- (c)


async def test_burst_of_changes_rolls_once(
    kube: KubeClient, namespace: str, start_controller: Start
) -> None:
    proc = start_controller("--reload-debounce=1s")
    await make_configmap(kube, namespace, "cm-a", {"k": "v1"})
    await make_configmap(kube, namespace, "cm-b", {"k": "v1"})
    await make_secret(kube, namespace, "secret-c", {"k": "v1"})
    await make_configmap(kube, namespace, "cm-rapid", {"k": "v1"})
    await _auto_deployment(kube, namespace, "multi", "cm-a", "cm-b", "secret/secret-c")
    await _auto_deployment(kube, namespace, "rapid", "cm-rapid")
    await wait_recorded(
        kube, namespace, DEPLOYMENT, "multi", "configmap/cm-a", "configmap/cm-b", "secret/secret-c"
    )
    await wait_recorded(kube, namespace, DEPLOYMENT, "rapid", "configmap/cm-rapid")
    await wait_replicasets(kube, namespace, "multi", 1)
    await wait_replicasets(kube, namespace, "rapid", 1)
    adopted = {n: await get_workload(kube, namespace, DEPLOYMENT, n) for n in ("multi", "rapid")}

    # several sources of one workload, back to back; one source five times in a row
    await update_configmap(kube, namespace, "cm-a", {"k": "v2"})
    await update_configmap(kube, namespace, "cm-b", {"k": "v2"})
    await update_secret(kube, namespace, "secret-c", {"k": "v2"})
    for i in range(2, 7):
        await update_configmap(kube, namespace, "cm-rapid", {"k": f"v{i}"})

    v2 = configmap_hash({"k": "v2"})
    expected = {
        "multi": {
            "STAKATER_CM_A_CONFIGMAP": v2,
            "STAKATER_CM_B_CONFIGMAP": v2,
            "STAKATER_SECRET_C_SECRET": secret_hash({"k": "v2"}),
        },
        "rapid": {"STAKATER_CM_RAPID_CONFIGMAP": configmap_hash({"k": "v6"})},
    }
    for name, env in expected.items():
        var, value = next(iter(env.items()))
        await wait_env(kube, namespace, DEPLOYMENT, name, var, value)
    await poke_and_settle(kube, proc, namespace, "cm-a", "multi")
    await poke_and_settle(kube, proc, namespace, "cm-rapid", "rapid")

    for name, env in expected.items():
        await wait_replicasets(kube, namespace, name, 2)
        after = await get_workload(kube, namespace, DEPLOYMENT, name)
        assert stakater_env(after) == env, name
        assert template_writes(adopted[name], after) == 1
        reloaded = writes(proc, "workload.reloaded", namespace, name)
        assert len(reloaded) == 1, json.dumps(reloaded)
        assert len(await owned_replicasets(kube, namespace, name)) == 2
    assert proc.metric(*EXECUTED) == 2
    assert proc.stop() == 0


# ---------------------------------------------------------------------------------------- (d)


async def test_label_and_annotation_only_changes_roll_nothing(
    kube: KubeClient, namespace: str, start_controller: Start
) -> None:
    proc = start_controller()
    await make_configmap(kube, namespace, "app-config", {"k": "v1"})
    await make_secret(kube, namespace, "app-secret", {"k": "v1"})
    await _auto_deployment(kube, namespace, "web", "app-config", "secret/app-secret")
    await wait_recorded(
        kube, namespace, DEPLOYMENT, "web", "configmap/app-config", "secret/app-secret"
    )
    await wait_settled(kube, namespace, "web", 1)
    before = await get_workload(kube, namespace, DEPLOYMENT, "web")
    skipped = {"reason": "no_data_change"}

    for rt, name in ((CONFIGMAPS, "app-config"), (SECRETS, "app-secret")):
        count = proc.metric("reloader_skipped_total", skipped)
        await patch_metadata(kube, rt, namespace, name, labels={"tier": "backend"})
        await wait_metric_increase(proc, "reloader_skipped_total", skipped, count)

        since = log_mark(proc)
        await patch_metadata(kube, rt, namespace, name, annotations={"owner": "team-a"})
        await wait_reconciled_after_change(
            proc,
            since=since,
            source_ns=namespace,
            source=name,
            kind=DEPLOYMENT,
            ns=namespace,
            name="web",
        )

    after = await get_workload(kube, namespace, DEPLOYMENT, "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
    assert template_of(after) == template_of(before)
    assert stakater_env(after) == {}
    assert len(await owned_replicasets(kube, namespace, "web")) == 1
    assert writes(proc, "workload.reloaded", namespace, "web") == []
    assert proc.metric(*EXECUTED) == 0
    assert proc.stop() == 0
