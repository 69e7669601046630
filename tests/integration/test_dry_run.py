"""``--dry-run`` against the real cluster: the same decisions as a real run, no write.

One namespace, a representative set of reloads: a ConfigMap change (auto annotation, a
Deployment, a CronJob, a Job), an explicit ConfigMap annotation, a Secret change, and a scheduled
restart that is due. A real controller first records the baselines and stops. A dry run then
sees the changes: every workload's and source's resourceVersion stays as it was, no Job, journal
entry or Event of a real reason appears, and one ``would_reload`` is logged per workload. Then a
real controller starts from the same state, and its reloads and restarts are exactly the dry
run's ``would_reload`` lines.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from reloader.core.objects import CONFIGMAPS, EVENTS, JOBS, SECRETS, ResourceType
from reloader.kube import resources
from reloader.kube.client import KubeClient
from reloader.workloads.domain.jobs import PENDING_JOB_LABEL
from tests.integration.controller import ControllerProcess, start_scoped
from tests.integration.receiver import receiver
from tests.integration.reload_support import (
    APPLIED,
    cm_env_from,
    container,
    log_mark,
    make_configmap,
    make_secret,
    secret_env_from,
    update_configmap,
    update_secret,
    workload_key,
)
from tests.integration.schedule_support import TYPES, create, hook_template, manifest, past_slot
from tests.integration.support import ClusterInfo, deployment, eventually

AUTO = {"reloader.stakater.com/auto": "true"}
SECRET_VALUE = "first-secret-value"
NEW_SECRET_VALUE = "second-secret-value"

#: (kind, name) of every workload the changes below restart
RELOADED = {
    ("Deployment", "auto-web"),
    ("Deployment", "explicit-web"),
    ("Deployment", "secret-web"),
    ("CronJob", "nightly"),
    ("Job", "batch"),
}
SCHEDULED = ("Deployment", "sched")


async def _workloads(kube: KubeClient, ns: str) -> None:
    """Sources and workloads; the scheduled one comes later (a real run would restart it)."""
    await make_configmap(kube, ns, "cfg", {"k": "v1"})
    await make_configmap(kube, ns, "exp", {"k": "v1"})
    await make_secret(kube, ns, "sec", {"password": SECRET_VALUE})
    on_cfg = [container("app", env_from=[cm_env_from("cfg")])]
    web = {
        "auto-web": (AUTO, on_cfg),
        "explicit-web": (
            {"configmap.reloader.stakater.com/reload": "exp"},
            [container("app", env_from=[cm_env_from("exp")])],
        ),
        "secret-web": (
            {"secret.reloader.stakater.com/reload": "sec"},
            [container("app", env_from=[secret_env_from("sec")])],
        ),
    }
    for name, (marks, containers) in web.items():
        body = deployment(name, annotations=marks, containers=containers)
        await create(kube, ns, "Deployment", body)
    pod = {"restartPolicy": "Never", "containers": on_cfg}
    cronjob = manifest("CronJob", "nightly", AUTO)
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"] = pod
    await create(kube, ns, "CronJob", cronjob)
    job = manifest("Job", "batch", AUTO)
    job["spec"] = {"suspend": True, "template": {"spec": pod}}
    await create(kube, ns, "Job", job)


async def _recorded(kube: KubeClient, ns: str) -> None:
    """Every reloadable workload carries the record of its source (the baseline)."""

    async def all_recorded() -> bool:
        for kind, name in RELOADED:
            obj = await resources.get(kube, TYPES[kind], namespace=ns, name=name)
            if APPLIED not in (obj["metadata"].get("annotations") or {}):
                return False
        return True

    await eventually(all_recorded, timeout=30, what="every workload's record")


async def _settled(kube: KubeClient, ns: str) -> None:
    """Wait until the Deployment and Job controllers are done with their workloads' status (a
    status update changes the resourceVersion too)."""

    async def settled() -> bool:
        for item in (await resources.list_page(kube, TYPES["Deployment"], namespace=ns))["items"]:
            status, replicas = item.get("status") or {}, item["spec"]["replicas"]
            if status.get("observedGeneration") != item["metadata"]["generation"]:
                return False
            if not status.get("availableReplicas") == status.get("updatedReplicas") == replicas:
                return False
        job = await resources.get(kube, JOBS, namespace=ns, name="batch")
        conditions = (job.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Suspended" for c in conditions)

    await eventually(settled, timeout=30, what="the workloads' status to settle")


async def _versions(kube: KubeClient, ns: str) -> dict[str, str]:
    """resourceVersion of every workload, source and Job in ``ns``, by kind/name."""
    out = {}
    types: list[ResourceType] = [*{TYPES[kind] for kind, _ in RELOADED}, CONFIGMAPS, SECRETS]
    for rt in {*types, JOBS}:
        for item in (await resources.list_page(kube, rt, namespace=ns))["items"]:
            out[f"{rt.kind}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
    return out


async def _events(kube: KubeClient, ns: str) -> dict[str, str]:
    """The reason of every Event reloader posted in ``ns``, by the Event's name."""
    page = await resources.list_page(kube, EVENTS, namespace=ns)
    ours = [e for e in page["items"] if e.get("reportingComponent") == "reloader"]
    return {e["metadata"]["name"]: e["reason"] for e in ours}


def _restarted(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((e["kind"], e["name"]) for e in entries)


def _controller(
    cluster: ClusterInfo, tmp_path: Path, ns: str, name: str, *args: str
) -> ControllerProcess:
    env = {"RELOADER_NAMESPACE": ns}  # the Job journal: a dry run writes none
    return start_scoped(cluster.kubeconfig, tmp_path / f"{name}.log", ns, *args, env=env)


@pytest.mark.timeout(150)  # three controller processes, one after the other
async def test_a_dry_run_writes_nothing_and_logs_what_the_real_run_then_does(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    ns = namespace
    await _workloads(kube, ns)
    baseline = _controller(cluster, tmp_path, ns, "baseline")
    try:
        await _recorded(kube, ns)
    finally:
        assert baseline.stop() == 0
    _, due = past_slot(timedelta(minutes=5))
    await create(kube, ns, "Deployment", manifest("Deployment", "sched", due))
    events_before = await _events(kube, ns)

    dry = _controller(cluster, tmp_path, ns, "dry", "--dry-run", "--dry-run-events")
    real: ControllerProcess | None = None
    try:
        await update_configmap(kube, ns, "cfg", {"k": "v2"})
        await update_configmap(kube, ns, "exp", {"k": "v2"})
        await update_secret(kube, ns, "sec", {"password": NEW_SECRET_VALUE})
        await _settled(kube, ns)
        before = await _versions(kube, ns)

        async def all_logged() -> bool:
            return len(dry.logs("would_reload")) >= len(RELOADED) + 1

        await eventually(all_logged, timeout=30, what="a would_reload per workload")
        # naming cfg explicitly too makes the dry run decide again: the same content, not logged
        since = log_mark(dry)
        await resources.patch(
            kube, TYPES["CronJob"], namespace=ns, name="nightly", patch_type="merge",
            body={"metadata": {"annotations": {"configmap.reloader.stakater.com/reload": "cfg"}}},
        )  # fmt: skip
        before["CronJob/nightly"] = (await _versions(kube, ns))["CronJob/nightly"]
        key = workload_key("CronJob", ns, "nightly")

        async def looked_again() -> bool:
            later = dry.logs()[since:]
            return any(e.get("event") == "reconcile.done" and e.get("key") == key for e in later)

        await eventually(looked_again, timeout=15, what="the dry run to look at nightly again")

        would = dry.logs("would_reload")
        assert _restarted(would) == sorted({*RELOADED, SCHEDULED}), "one line per workload"
        assert all(e["dry_run"] is True and e["patch"] for e in would)
        assert await _versions(kube, ns) == before, "no workload, source or Job was written"
        secrets = await resources.list_page(
            kube, SECRETS, namespace=ns, label_selector=PENDING_JOB_LABEL
        )
        assert secrets["items"] == [], "no journal entry"
        log = dry.log_path.read_text()
        for value in (NEW_SECRET_VALUE, SECRET_VALUE):
            assert value not in log
            assert base64.b64encode(value.encode()).decode() not in log
        events = await _events(kube, ns)
        new_events = [reason for name, reason in events.items() if name not in events_before]
        assert "DryRunReloaded" in new_events
        assert "DryRunScheduledRestart" in new_events
        assert all(r.startswith("DryRun") for r in new_events), new_events
        assert dry.metric("reloader_reloads_total", {"dry_run": "true"}) == len(RELOADED)
        assert dry.metric("reloader_scheduled_restarts_total", {"dry_run": "true"}) == 1
        assert dry.metric("reloader_reload_executed_total", {"success": "true"}) == 0
        assert dry.metric("reloader_action_total") == 0
        assert dry.stop() == 0

        real = _controller(cluster, tmp_path, ns, "real")

        async def all_done() -> bool:
            done = real.logs("workload.reloaded") + real.logs("schedule.restarted")
            return len(done) >= len(would)

        await eventually(all_done, timeout=30, what="the real run's reloads")
        done = real.logs("workload.reloaded") + real.logs("schedule.restarted")
        assert _restarted(done) == _restarted(would), "the dry run logged what the run does"
        patches = {(e["kind"], e["name"]): e["patch"] for e in would}
        web = await resources.get(kube, TYPES["Deployment"], namespace=ns, name="auto-web")
        env = web["spec"]["template"]["spec"]["containers"][0]["env"]
        logged = patches[("Deployment", "auto-web")]["spec"]["template"]["spec"]["containers"]
        assert logged[0]["env"] == env, "the patch logged is the patch written"
        record = json.loads(web["metadata"]["annotations"][APPLIED])
        assert (
            json.loads(patches[("Deployment", "auto-web")]["metadata"]["annotations"][APPLIED])[
                "configmap/cfg"
            ]
            == record["configmap/cfg"]
        )
    finally:
        for proc in (dry, real):
            if proc is not None and proc.proc is not None:
                proc.stop()


async def test_a_dry_run_in_webhook_mode_posts_nothing(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    ns = namespace
    await make_configmap(kube, ns, "cfg", {"k": "v1"})
    body = deployment(
        "web", annotations=AUTO, containers=[container(env_from=[cm_env_from("cfg")])]
    )
    await create(kube, ns, "Deployment", body)
    with receiver() as hook:
        webhook = f"--webhook-url={hook.url}"
        baseline = _controller(cluster, tmp_path, ns, "baseline", webhook)
        try:
            await _recorded_one(kube, ns, "web")
        finally:
            assert baseline.stop() == 0
        assert hook.requests == []  # adopting posts nothing
        dry = _controller(cluster, tmp_path, ns, "dry", webhook, "--dry-run")
        try:
            await update_configmap(kube, ns, "cfg", {"k": "v2"})

            async def logged() -> list[dict[str, Any]]:
                return dry.logs("would_notify")

            [would] = await eventually(logged, timeout=20, what="would_notify")
            sent = json.loads(would["body"])
            assert sent["workload"] == {"kind": "Deployment", "namespace": ns, "name": "web"}
            assert [s["name"] for s in sent["sources"]] == ["cfg"]
            assert dry.logs("would_write"), "and the record it would write after the POST"
        finally:
            assert dry.stop() == 0
        assert hook.requests == [], "no POST"


async def _recorded_one(kube: KubeClient, ns: str, name: str) -> None:
    async def recorded() -> bool:
        obj = await resources.get(kube, TYPES["Deployment"], namespace=ns, name=name)
        return APPLIED in (obj["metadata"].get("annotations") or {})

    await eventually(recorded, timeout=30, what=f"{name}'s record")


async def test_a_restart_with_hooks_recorded_before_the_dry_run_runs_no_hook(
    kube: KubeClient, namespace: str, cluster: ClusterInfo, tmp_path: Path
) -> None:
    """A workload caught mid-restart (its before step recorded by a real run) when a dry run
    starts: the dry run neither creates the hook's Job nor moves the step."""
    ns = namespace
    await hook_template(kube, ns)
    record = json.dumps({"restart": "2026-12-06T10:00:00Z", "step": "before"})
    annotations = {
        "reloader.stakater.com/hook-before": "job cronjob/warmup",
        "reloader.stakater.com/restart-hooks": record,
    }
    await create(kube, ns, "Deployment", manifest("Deployment", "web", annotations))
    dry = _controller(cluster, tmp_path, ns, "dry", "--dry-run")
    try:

        async def logged() -> list[dict[str, Any]]:
            return dry.logs("would_run_hook")

        [would] = await eventually(logged, timeout=20, what="would_run_hook")
        assert (would["name"], would["point"], would["hook"]) == (
            "web",
            "before",
            "job cronjob/warmup",
        )
    finally:
        assert dry.stop() == 0
    after = await resources.get(kube, TYPES["Deployment"], namespace=ns, name="web")
    ours = {k: v for k, v in after["metadata"]["annotations"].items() if "reloader" in k}
    assert ours == annotations  # the step not moved, no hook result recorded
    assert after["metadata"]["generation"] == 1
    assert not await resources.list_all(kube, JOBS, namespace=ns)
