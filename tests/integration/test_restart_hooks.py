"""Restart hooks against the real cluster and a real Redis.

The seed scenario: the hand-made CronJob that scales a Deployment to 0, runs ``redis-cli
flushall`` in the redis pod and scales back, replaced by a stop-start schedule with a stopped-hook.
kwok serves ``pods/exec`` for its pods and runs the command on this machine, so the hook's
``redis-cli`` talks to the Redis started by the test. The hook also writes the time it ran, and a
watcher notes the last time a pod of the Deployment existed: the flush must come after the last
pod is gone.
"""

from __future__ import annotations

import json
import shlex
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio

from reloader.core.objects import JOBS, NODES, PODS
from reloader.kube import resources
from reloader.kube.client import KubeClient
from tests.integration.controller import ControllerProcess
from tests.integration.redis_support import Redis, redis, redis_bin  # noqa: F401 - fixtures
from tests.integration.reload_support import (
    applied_record,
    cm_env_from,
    configmap_hash,
    container,
    make_configmap,
    update_configmap,
    wait_recorded,
)
from tests.integration.schedule_support import (
    METHOD,
    REPLICASETS,
    STOP_START,
    annotations_of,
    create,
    events,
    get,
    hook_template,
    manifest,
    past_slot,
    pods,
    run_cli,
    set_finalizers,
    start_controller,
    wait_event,
)
from tests.integration.support import ClusterInfo, eventually

HOLD = "reloader.test/hold"
AFTER = "reloader.stakater.com/hook-after"
BEFORE = "reloader.stakater.com/hook-before"
STOPPED = "reloader.stakater.com/hook-stopped"
RECORD = "reloader.stakater.com/restart-hooks"
RESULTS = "reloader.stakater.com/hook-results"


async def _redis_pod(kube: KubeClient, ns: str) -> None:
    body = manifest("Deployment", "redis", {}, replicas=1)
    body["spec"]["template"]["spec"]["containers"] = [{"name": "redis", "image": "redis:7"}]
    await create(kube, ns, "Deployment", body)

    async def running() -> bool:
        found = await pods(kube, ns, "redis")
        return any(p.get("status", {}).get("phase") == "Running" for p in found)

    await eventually(running, timeout=60, what="the redis pod running")


async def _back_up(kube: KubeClient, ns: str, name: str, replicas: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await get(kube, ns, "Deployment", name)
        status = obj.get("status") or {}
        up = obj["spec"]["replicas"] == replicas and status.get("availableReplicas") == replicas
        return obj if up and RECORD not in annotations_of(obj) else None

    obj = await eventually(probe, timeout=60, what=f"{name} back at {replicas} replicas")
    assert obj is not None
    return obj


async def _restarted(kube: KubeClient, ns: str, name: str) -> dict[str, Any]:
    """The Deployment once restarted (``restartedAt`` on its template) with no hook step left."""

    async def probe() -> dict[str, Any] | None:
        obj = await get(kube, ns, "Deployment", name)
        template_annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
        done = "kubectl.kubernetes.io/restartedAt" in template_annotations
        return obj if done and RECORD not in annotations_of(obj) else None

    obj = await eventually(probe, timeout=60, what=f"{name} restarted around its hooks")
    assert obj is not None
    return obj


class LastPodSeen:
    """Polls a Deployment's pods and keeps the wall time one of ``names`` (the pods it had
    before the restart) was last seen."""

    def __init__(self, kube: KubeClient, ns: str, app: str, names: set[str]) -> None:
        self.kube, self.ns, self.app, self.names = kube, ns, app, names
        self.at = time.time()  # they were just listed

    async def run(self) -> None:
        while True:
            found = {p["metadata"]["name"] for p in await pods(self.kube, self.ns, self.app)}
            if found & self.names:
                self.at = time.time()
            await anyio.sleep(0.05)


async def test_stop_flush_start_replaces_the_cronjob(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
    redis: Redis,  # noqa: F811 - the fixture
) -> None:
    for i in range(20):
        redis.cli("set", f"session:{i}", "x")
    await _redis_pod(kube, namespace)
    flushed_at = tmp_path / "flushed-at"
    flush = f"{shlex.quote(redis.cli_path)} -p {redis.port} flushall"
    script = f"{flush} && date +%s.%N > {flushed_at}"
    _, annotations = past_slot(timedelta(minutes=3))
    annotations[METHOD] = "stop-start"
    annotations[STOPPED] = f"exec app=redis -c redis -- sh -c {shlex.quote(script)}"
    await create(
        kube, namespace, "Deployment", manifest("Deployment", "web", annotations, replicas=2)
    )
    await _back_up(kube, namespace, "web", 2)

    before = {p["metadata"]["name"] for p in await pods(kube, namespace, "web")}
    assert len(before) == 2
    watcher = LastPodSeen(kube, namespace, "web", before)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        await anyio.to_thread.run_sync(start_controller, cluster, tmp_path, controllers)
        await wait_event(kube, namespace, "web", "StopStartScaledUp")
        tg.cancel_scope.cancel()

    obj = await _back_up(kube, namespace, "web", 2)
    assert redis.cli("dbsize") == "0"
    assert float(flushed_at.read_text()) > watcher.at > 0  # flushed after the last pod went
    assert STOP_START not in annotations_of(obj)
    assert '"stopped":"success"' in annotations_of(obj)[RESULTS]
    for reason in ("ScheduledRestart", "StopStartScaledDown", "HookSucceeded", "StopStartScaledUp"):
        assert len(await events(kube, namespace, "web", reason)) == 1, reason


async def test_a_failing_stopped_hook_still_scales_back_up(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
    redis: Redis,  # noqa: F811 - the fixture
) -> None:
    redis.cli("set", "session:1", "x")
    await _redis_pod(kube, namespace)
    _, annotations = past_slot(timedelta(minutes=3))
    annotations[METHOD] = "stop-start"
    # the output (token=s3cr3t) is not in the command's own text, which the Event names
    annotations[STOPPED] = "exec app=redis -c redis -- sh -c 'printf token=s3%sr3t c >&2; exit 1'"
    await create(
        kube, namespace, "Deployment", manifest("Deployment", "web", annotations, replicas=2)
    )
    await _back_up(kube, namespace, "web", 2)
    start_controller(cluster, tmp_path, controllers)

    failed = await wait_event(kube, namespace, "web", "HookFailed")
    assert failed["type"] == "Warning"
    assert "exited 1" in failed["message"]
    assert "s3cr3t" not in failed["message"]  # output is not shown unless the workload asks
    assert "(0 B stdout, 12 B stderr kept)" in failed["message"]
    assert "scaling back up" in failed["message"]
    await wait_event(kube, namespace, "web", "StopStartScaledUp")
    obj = await _back_up(kube, namespace, "web", 2)
    assert redis.cli("dbsize") == "1"
    assert '"stopped":"failure"' in annotations_of(obj)[RESULTS]


async def test_a_job_before_hook_runs_once_then_the_rolling_restart(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    await hook_template(kube, namespace)
    _, annotations = past_slot(timedelta(minutes=3))
    annotations[BEFORE] = "job cronjob/warmup"
    await create(kube, namespace, "Deployment", manifest("Deployment", "api", annotations))
    start_controller(cluster, tmp_path, controllers)

    succeeded = await wait_event(kube, namespace, "api", "HookSucceeded")
    assert "job cronjob/warmup" in succeeded["message"]
    await wait_event(kube, namespace, "api", "ScheduledRestart")

    obj = await _restarted(kube, namespace, "api")
    jobs = await resources.list_all(kube, JOBS, namespace=namespace)
    assert [j["metadata"]["name"] for j in jobs] == [jobs[0]["metadata"]["name"]]
    job = jobs[0]
    assert job["metadata"]["name"].startswith("api-before-")
    assert job["metadata"]["ownerReferences"][0]["name"] == "warmup"
    assert job["spec"]["activeDeadlineSeconds"] == 600
    assert '"before":"success"' in annotations_of(obj)[RESULTS]
    assert not await resources.list_all(kube, PODS, namespace=namespace, label_selector="x=y")


# ----------------------------------------------------------------------------- crash safety


class Gates:
    """Node labels that let pods of a given role schedule: without the label on a node, a pod
    that selects it stays Pending (so a Job hook or a rollout waits as long as the test wants)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.value = namespace[-8:]

    def selector(self, role: str) -> dict[str, str]:
        return {f"hooks.test/{role}": self.value}

    async def set(self, role: str, *, open_: bool) -> None:
        body = {"metadata": {"labels": {f"hooks.test/{role}": self.value if open_ else None}}}
        await resources.patch(
            self.kube, NODES, namespace=None, name="kwok-node-0", body=body, patch_type="merge"
        )


async def _record(kube: KubeClient, ns: str) -> dict[str, Any]:
    obj = await get(kube, ns, "Deployment", "web")
    raw = annotations_of(obj).get(RECORD)
    return json.loads(raw) if raw else {}


async def _at_step(kube: KubeClient, ns: str, step: str) -> None:
    async def probe() -> bool:
        return (await _record(kube, ns)).get("step") == step

    await eventually(probe, timeout=60, what=f"web's restart at step {step!r}")


async def _hook_jobs(kube: KubeClient, ns: str, point: str, *, workload: str = "web") -> list[str]:
    jobs = await resources.list_all(kube, JOBS, namespace=ns)
    names = (j["metadata"]["name"] for j in jobs)
    return sorted(n for n in names if n.startswith(f"{workload}-{point}-"))


async def _one_job(kube: KubeClient, ns: str, point: str) -> None:
    async def probe() -> bool:
        return len(await _hook_jobs(kube, ns, point)) == 1

    await eventually(probe, timeout=60, what=f"the {point}-hook Job created")


async def test_killed_at_every_step_the_restart_finishes_once(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    ns = namespace
    gates = Gates(kube, ns)
    for role in ("before", "stopped", "after"):
        await hook_template(kube, ns, f"{role}-hook", gates.selector(role))
    await gates.set("web", open_=True)
    try:
        _, annotations = past_slot(timedelta(minutes=3))
        annotations[METHOD] = "stop-start"
        annotations[BEFORE] = "job cronjob/before-hook"
        annotations[STOPPED] = "job cronjob/stopped-hook"
        annotations[AFTER] = "job cronjob/after-hook"
        web = manifest("Deployment", "web", annotations, replicas=2)
        web["spec"]["template"]["spec"]["nodeSelector"] = gates.selector("web")
        await create(kube, ns, "Deployment", web)
        await _back_up(kube, ns, "web", 2)
        held = await pods(kube, ns, "web")
        for pod in held:  # the old pods stay Terminating until released
            await set_finalizers(kube, ns, pod, [HOLD])

        def kill_last() -> None:
            assert controllers[-1].stop(sig=signal.SIGKILL) != 0

        # 1. before: its Job cannot run yet; kill, and the next controller waits for that Job
        start_controller(cluster, tmp_path, controllers)
        await _at_step(kube, ns, "before")
        await _one_job(kube, ns, "before")
        kill_last()
        start_controller(cluster, tmp_path, controllers)
        await gates.set("before", open_=True)
        # 2. stopping: scaled to 0, the old pods held in Terminating
        await _at_step(kube, ns, "stopping")
        assert (await get(kube, ns, "Deployment", "web"))["spec"]["replicas"] == 0
        await wait_event(kube, ns, "web", "StopStartScaledDown")  # not lost with the process
        kill_last()
        await gates.set("web", open_=False)  # the new pods will wait: step 4 kills there
        for pod in held:
            await set_finalizers(kube, ns, pod, [])
        # 3. stopped: its Job cannot run yet
        start_controller(cluster, tmp_path, controllers)
        await _at_step(kube, ns, "stopped")
        await _one_job(kube, ns, "stopped")
        kill_last()
        start_controller(cluster, tmp_path, controllers)
        await gates.set("stopped", open_=True)
        # 4. starting: scaled back to 2, the new pods pending
        await _at_step(kube, ns, "starting")

        async def scaled_back() -> bool:
            obj = await get(kube, ns, "Deployment", "web")
            return bool(obj["spec"]["replicas"] == 2 and STOP_START not in annotations_of(obj))

        await eventually(scaled_back, timeout=30, what="web scaled back to 2")
        await wait_event(kube, ns, "web", "StopStartScaledUp")
        kill_last()
        start_controller(cluster, tmp_path, controllers)
        await gates.set("web", open_=True)
        # 5. after: its Job cannot run yet
        await _at_step(kube, ns, "after")
        await _one_job(kube, ns, "after")
        kill_last()
        start_controller(cluster, tmp_path, controllers)
        await gates.set("after", open_=True)

        obj = await _back_up(kube, ns, "web", 2)
        for point in ("before", "stopped", "after"):
            assert len(await _hook_jobs(kube, ns, point)) == 1, point
        assert json.loads(annotations_of(obj)[RESULTS]) == {
            "after": "success",
            "before": "success",
            "stopped": "success",
        }
        assert len(await events(kube, ns, "web", "HookSucceeded")) == 3
        assert len(await events(kube, ns, "web", "StopStartScaledDown")) == 1
        assert len(await events(kube, ns, "web", "StopStartScaledUp")) == 1
        assert not await events(kube, ns, "web", "HookFailed")
    finally:
        for role in ("before", "stopped", "after", "web"):
            await gates.set(role, open_=False)


# ----------------------------------------------------------------------------- restart, explain


async def test_reloader_restart_runs_the_hooks_through_the_controller(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    ns = namespace
    await hook_template(kube, ns)
    annotations = {BEFORE: "job cronjob/warmup", AFTER: "job cronjob/warmup"}
    await create(kube, ns, "Deployment", manifest("Deployment", "api", annotations))
    await create(kube, ns, "Deployment", manifest("Deployment", "plain", annotations))
    await _back_up(kube, ns, "api", 1)
    start_controller(cluster, tmp_path, controllers)

    done = await run_cli(cluster.kubeconfig, "restart", "deployment/api", "-n", ns)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert (
        lines[0] == "deployment/api: restart with hooks recorded; the reloader controller runs it"
    )
    assert "deployment/api: step before" in lines  # the steps it saw, as they changed
    assert lines[-3:] == [
        "deployment/api: after-hook success",
        "deployment/api: before-hook success",
        "deployment/api restarted",
    ]
    assert len(await _hook_jobs(kube, ns, "before", workload="api")) == 1
    assert len(await _hook_jobs(kube, ns, "after", workload="api")) == 1
    obj = await get(kube, ns, "Deployment", "api")
    assert "kubectl.kubernetes.io/restartedAt" in obj["spec"]["template"]["metadata"]["annotations"]

    explained = await run_cli(cluster.kubeconfig, "explain", "deployment/api", "-n", ns)
    assert explained.returncode == 0, explained.stderr
    assert "Hooks: timeout 600s, a failed stopped-hook: start" in explained.stdout
    assert "  before:  job cronjob/warmup  (last: success)" in explained.stdout
    assert "  after:   job cronjob/warmup  (last: success)" in explained.stdout

    skipped = await run_cli(
        cluster.kubeconfig, "restart", "deployment/plain", "-n", ns, "--no-hooks"
    )
    assert skipped.returncode == 0, skipped.stderr
    assert not await _hook_jobs(kube, ns, "before", workload="plain")
    obj = await get(kube, ns, "Deployment", "plain")
    assert "kubectl.kubernetes.io/restartedAt" in obj["spec"]["template"]["metadata"]["annotations"]
    assert RECORD not in annotations_of(obj)


async def test_a_config_change_restarts_through_the_hooks(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    """A reload of a workload with hooks: the change is recorded with the restart's first step,
    the before-hook Job runs, then one restart (the kind's own), and the record is gone."""
    ns = namespace
    await hook_template(kube, ns)
    await make_configmap(kube, ns, "cfg", {"k": "v1"})
    annotations = {"reloader.stakater.com/auto": "true", BEFORE: "job cronjob/warmup"}
    web = manifest("Deployment", "web", annotations)
    web["spec"]["template"]["spec"]["containers"] = [container(env_from=[cm_env_from("cfg")])]
    await create(kube, ns, "Deployment", web)
    start_controller(cluster, tmp_path, controllers)
    await wait_recorded(kube, ns, "Deployment", "web", "configmap/cfg")
    assert not await _hook_jobs(kube, ns, "before")  # adopting a source restarts nothing

    await update_configmap(kube, ns, "cfg", {"k": "v2"})
    await wait_event(kube, ns, "web", "HookSucceeded")

    obj = await _restarted(kube, ns, "web")
    assert applied_record(obj)["configmap/cfg"] == configmap_hash({"k": "v2"})
    assert len(await _hook_jobs(kube, ns, "before")) == 1
    replicasets = await resources.list_all(
        kube, REPLICASETS, namespace=ns, label_selector="app=web"
    )
    assert len(replicasets) == 2  # one restart for the change


async def test_the_output_is_shown_only_when_the_workload_asks(
    kube: KubeClient,
    namespace: str,
    cluster: ClusterInfo,
    tmp_path: Path,
    controllers: list[ControllerProcess],
) -> None:
    ns = namespace
    await _redis_pod(kube, ns)
    _, annotations = past_slot(timedelta(minutes=3))
    annotations[METHOD] = "stop-start"
    annotations[STOPPED] = "exec app=redis -c redis -- sh -c 'echo flushed 12 keys; echo warn >&2'"
    annotations["reloader.stakater.com/hook-show-output"] = "true"
    await create(kube, ns, "Deployment", manifest("Deployment", "web", annotations))
    start_controller(cluster, tmp_path, controllers)
    succeeded = await wait_event(kube, ns, "web", "HookSucceeded")
    assert "stdout 'flushed 12 keys', stderr 'warn'" in succeeded["message"]
